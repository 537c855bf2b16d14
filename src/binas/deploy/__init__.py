"""Deployment of a found network: export a static child (weights, ONNX), fine-tune it, evaluate it; train one from scratch."""
