"""The search: path spaces, the supernet and its training and sampling, the MACs budget, the
evaluator, the strategies, records and ranking, and the pipeline of stage 1 and stage 2."""
