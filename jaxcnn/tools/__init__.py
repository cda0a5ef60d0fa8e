"""The command-line tools around the library: each is ``python -m jaxcnn.tools.NAME``.

predict (classify image files), ensemble (several runs' softmax averaged), export (TF
SavedModel), plots (curves, filters, confusion), summary (shapes, parameters, multiply-adds),
convert (torchvision weights), bench (training throughput, against PyTorch with the torch
extra), bench_input (input pipeline throughput).
The library (jaxcnn.train, jaxcnn.models, jaxcnn.data, ...) imports none of them.
"""
