"""Photos in, training data out: read images safely, find and align faces, pack them once."""
