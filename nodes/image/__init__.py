"""Image nodes: IMAGE is a float32 tensor [batch, height, width, 3] in [0, 1];
MASK is a float32 tensor [batch, height, width] in [0, 1]."""
