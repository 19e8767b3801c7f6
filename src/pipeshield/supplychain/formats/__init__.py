"""Format handlers; importing this package registers every one of them (see :mod:`.base`)."""

from pipeshield.supplychain.formats import (  # noqa: F401  (handlers register on import)
    archives,
    data,
    gguf,
    hdf5,
    numpy_files,
    onnx_models,
    pickles,
    safetensors_files,
    tensorflow_graphs,
)
from pipeshield.supplychain.formats.base import Context, Scanned, scan_buffer

__all__ = ["Context", "Scanned", "scan_buffer"]
