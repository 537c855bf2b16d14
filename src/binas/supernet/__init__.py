"""The weight-sharing supernet: the model (``model``, ``elastic``), its file format (``store``), its training (``train``)."""
