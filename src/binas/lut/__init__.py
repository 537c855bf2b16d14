"""Resource lookup tables (``binas.lut/1``): the table and its file (``table``), measured timing (``measure``,
``timing``), ONNX blocks for external measurement (``onnx_blocks``), a LUT checked against whole networks (``fidelity``)."""
