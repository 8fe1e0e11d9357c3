"""The network: search spaces and architectures as data, the layers, the GLiT model, exact
costs, released weights and timm registration. Uses only the runtime's file readers."""
