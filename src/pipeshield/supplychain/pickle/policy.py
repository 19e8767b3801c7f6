"""Which globals a pickle may name: an allowlist, with a denylist only to say *how bad*.

Deny by default. A name is allowed only if ordinary torch, numpy, scikit-learn/joblib or
``collections`` files use it (the starting point is torch's own ``weights_only`` allowlist in
``torch/_weights_only_unpickler.py``, widened to numpy's array and RNG reconstructors and HF
Trainer's ``rng_state.pth``). Everything else is a finding: the denylist only picks the rule and
raises it to critical for names that resolve other names, build or run code, run processes, touch
files or the network, install packages or load another pickle.

Names are normalised first: C-module aliases (``posix`` -> ``os``, ``_operator`` -> ``operator``,
``_io`` -> ``io``), Python 2 names (``__builtin__``), and ``numpy._core``/``numpy.core``. Dotted
names are judged by every attribute path they walk (``pathlib`` + ``os.system`` is ``os.system``)
and submodules of a denied module are denied (``asyncio.unix_events``).

    >>> judge("posix", "system").rule
    'PS-PKL-EXEC-PROCESS'
    >>> judge("collections", "OrderedDict") is None
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Judgement", "judge", "normalise"]

_RESOLVE = "PS-PKL-RESOLVE-NAME"
_CODE = "PS-PKL-EXEC-CODE"
_PROC = "PS-PKL-EXEC-PROCESS"
_FILE = "PS-PKL-FILE-NETWORK"
_INSTALL = "PS-PKL-INSTALL"
_NESTED = "PS-PKL-NESTED-LOAD"
_UNKNOWN = "PS-PKL-NOT-ALLOWLISTED"
_REVIEW = "PS-PKL-REVIEW-CLASS"

#: C accelerator modules and platform modules that are another name for a public one.
_MODULE_ALIASES = {
    "posix": "os", "nt": "os", "_operator": "operator", "_io": "io", "_pickle": "pickle",
    "_socket": "socket", "_ssl": "ssl", "_posixsubprocess": "subprocess", "_functools": "functools",
    "__builtin__": "builtins", "copy_reg": "copyreg", "_thread": "threading", "_ctypes": "ctypes",
    "posixpath": "os.path", "ntpath": "os.path", "_collections": "collections",
    "numpy._core": "numpy.core", "_winapi": "subprocess", "_multiprocessing": "multiprocessing",
    "_asyncio": "asyncio", "_imp": "importlib", "_frozen_importlib": "importlib",
    "_frozen_importlib_external": "importlib", "_weakref": "weakref", "_signal": "signal",
    "_sqlite3": "sqlite3", "_bz2": "bz2", "_lzma": "lzma", "_gdbm": "dbm", "_dbm": "dbm",
    "_string": "string", "_sre": "re", "_tracemalloc": "tracemalloc", "_lsprof": "cProfile",
}

_TORCH_DTYPES = ["bfloat16", "bits16", "bits1x8", "bits2x4", "bits4x2", "bits8", "bool", "complex128", "complex32", "complex64", "float16", "float32", "float4_e2m1fn_x2", "float64", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu", "int1", "int16", "int2", "int3", "int32", "int4", "int5", "int6", "int64", "int7", "int8", "qint32", "qint8", "quint2x4", "quint4x2", "quint8", "uint1", "uint16", "uint2", "uint3", "uint32", "uint4", "uint5", "uint6", "uint64", "uint7", "uint8", "half", "float", "double", "long", "int", "short", "cfloat", "cdouble", "chalf"]

_ALLOWED: frozenset[str] = frozenset(
    [
        # torch: torch._weights_only_unpickler._get_allowed_globals() (torch 2.13), by name
        "collections.OrderedDict", "collections.Counter", "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout", "torch.Size", "torch.Tensor", "torch.device",
        "_codecs.encode", "builtins.bytearray", "builtins.set", "builtins.complex",
        "torch._tensor._rebuild_from_type_v2", "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage", "torch.per_tensor_affine", "torch.per_tensor_symmetric",
        "torch.per_channel_affine", "torch.per_channel_symmetric",
        "torch.per_channel_affine_float_qparams", "torch.strided", "torch.sparse_coo",
        "torch.sparse_csr", "torch.sparse_csc", "torch.sparse_bsr", "torch.sparse_bsc",
        "torch._mkldnn", "torch.contiguous_format", "torch.channels_last",
        "torch.channels_last_3d", "torch.preserve_format", "torch.nn.parameter.Buffer",
        *(f"torch._utils.{f}" for f in (
            "_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor",
            "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
            "_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage", "_rebuild_nested_tensor",
            "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy",
            "_rebuild_device_tensor_from_cpu_tensor")),
        *(f"torch.{d}" for d in _TORCH_DTYPES),
        # builtins: plain containers and numbers
        "builtins.frozenset", "builtins.slice", "builtins.bytes", "builtins.dict", "builtins.list",
        "builtins.tuple", "builtins.int", "builtins.float", "builtins.str", "builtins.bool",
        "builtins.object", "builtins.range", "builtins.NoneType", "builtins.Ellipsis",
        "builtins.NotImplemented",
        "collections.defaultdict", "collections.deque",
        "copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__",
        "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta",
        "datetime.timezone", "decimal.Decimal", "fractions.Fraction",
        # numpy arrays, scalars, dtypes and random states (numpy 1 and 2 module names)
        "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar",
        "numpy.core.numeric._frombuffer", "numpy.ndarray", "numpy.dtype", "numpy.matrix",
        "numpy.core.multiarray.ndarray", "numpy.ma.core._mareconstruct", "numpy.ma.core.MaskedArray",
        "numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor", "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator", "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64", "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._philox.Philox", "numpy.random._sfc64.SFC64",
        "numpy.random.bit_generator.SeedSequence", "numpy.random.mtrand._rand",
        # joblib's inline array wrapper (its bytes are analysed by the VM's BUILD hook)
        "joblib.numpy_pickle.NumpyArrayWrapper",
        # scipy sparse matrices that scikit-learn models hold
        *(f"scipy.sparse._{k}.{k}_{t}" for k in ("csr", "csc", "coo") for t in ("matrix", "array")),
    ]
)

_ALLOWED_PATTERNS = (
    re.compile(r"^torch\.(cuda\.)?(sparse\.)?[A-Z][A-Za-z0-9]*(Storage|Tensor)$"),
    re.compile(r"^numpy\.dtypes\.[A-Za-z0-9]+DType$"),
    re.compile(r"^numpy\.(core\.)?(multiarray\.)?[a-z]+(8|16|32|64|128)?$"),  # numpy.float64 ...
)
_NUMPY_SCALARS = frozenset(
    ["bool_", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64", "float128", "longdouble", "complex64", "complex128", "complex256", "str_", "bytes_", "void", "datetime64", "timedelta64", "object_", "intc", "uintc", "longlong", "ulonglong", "single", "double", "csingle", "cdouble"]
)

#: Longest matching prefix wins. Module prefixes cover their submodules.
_DENIED: dict[str, str] = {}


def _deny(rule: str, names: str) -> None:
    for name in names.split():
        _DENIED[name] = rule


_deny(_RESOLVE, """builtins.getattr builtins.__import__ builtins.globals builtins.locals
    builtins.vars builtins.setattr builtins.delattr builtins.__builtins__ builtins.type
    importlib pkgutil pydoc operator functools inspect sys zipimport imp gc copyreg weakref
    builtins.super builtins.classmethod builtins.staticmethod builtins.property""")
_deny(_CODE, """builtins.eval builtins.exec builtins.compile builtins.breakpoint builtins.input
    builtins.help types cProfile profile trace timeit pdb bdb doctest code codeop runpy site atexit
    cloudpickle idlelib torch.jit torch._dynamo torch.fx torch.compile torch._inductor
    torch.utils.cpp_extension ast tracemalloc string.Template jinja2 numpy.f2py ctypes.util
    torch._C._jit_pass collections.namedtuple numpy.testing torch.testing""")
_deny(_PROC, """os subprocess pty ctypes multiprocessing asyncio signal msvcrt winreg threading
    concurrent platform uuid._get_command_stdout imaplib commands popen2 sched resource
    torch.distributed torch.multiprocessing _osx_support _aix_support test""")
_deny(_FILE, """builtins.open io shutil pathlib tempfile glob fileinput linecache filecmp zipfile
    tarfile gzip bz2 lzma mmap sqlite3 dbm logging socket socketserver ssl select selectors urllib
    urllib3 http httpx requests aiohttp ftplib smtplib poplib telnetlib nntplib xmlrpc webbrowser
    wsgiref smtpd codecs.open codecs.StreamReaderWriter codecs.EncodedFile tkinter turtle
    antigravity this""")
_deny(_INSTALL, "pip ensurepip setuptools pkg_resources venv distutils easy_install")
_deny(_NESTED, """pickle pickletools dill marshal shelve jsonpickle torch.load torch.serialization.load
    torch.storage._load_from_bytes torch.hub torch.package numpy.load numpy.lib.npyio.load
    numpy.lib._npyio_impl.load numpy.core.multiarray.fromfile numpy.fromfile joblib.load
    joblib.numpy_pickle.load joblib.numpy_pickle_compat pandas.read_pickle pandas.io.pickle
    keras.models.load_model tensorflow.keras.models.load_model transformers.modeling_utils
    torch.serialization._load lib2to3""")

_DUNDER_ESCAPES = frozenset(
    ["__globals__", "__builtins__", "__class__", "__base__", "__bases__", "__mro__", "__subclasses__", "__import__", "__getattribute__", "__getattr__", "__dict__", "__code__", "__func__", "__self__", "__module__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__", "__init_subclass__", "__call__"]
)


@dataclass(frozen=True)
class Judgement:
    """Why a global is reported: the rule, and the name (after normalising) that triggered it."""

    rule: str
    matched: str
    note: str = ""


def normalise(module: str, name: str) -> str:
    """The canonical dotted path for ``module`` + ``name``."""
    import _compat_pickle

    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    head = module.partition(".")[0]
    for alias in (module, head):
        if alias in _MODULE_ALIASES:
            module = _MODULE_ALIASES[alias] + module[len(alias):]
            break
    if module.startswith("numpy._core"):
        module = "numpy.core" + module[len("numpy._core"):]
    return f"{module}.{name}" if name else module


def _allowed(path: str) -> bool:
    if path in _ALLOWED:
        return True
    if any(p.match(path) for p in _ALLOWED_PATTERNS):
        tail = path.rsplit(".", 1)[-1]
        return not path.startswith("numpy.") or "DType" in tail or tail in _NUMPY_SCALARS
    return False


def _denied(path: str) -> str | None:
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        rule = _DENIED.get(".".join(parts[:i]))
        if rule is not None:
            return rule
    return None


def judge(module: str, name: str) -> Judgement | None:
    """``None`` if the global is allowed; otherwise the rule it breaks and what matched."""
    path = normalise(module, name)
    if _allowed(path):
        return None
    segments = name.split(".") if name else []
    if len(segments) > 1 and any(s in _DUNDER_ESCAPES for s in segments):
        return Judgement(_RESOLVE, path, "walks through a dunder attribute")
    # Every attribute path the name walks: pathlib + "os.system" reaches os.system. The innermost
    # path decides the rule (it is what gets called); the full path is checked last.
    candidates = [normalise(".".join(segments[i:-1]), segments[-1]) for i in range(len(segments) - 2, -1, -1)]
    for candidate in [*candidates, path]:
        rule = _denied(candidate)
        if rule is not None:
            note = "" if candidate == path else f"reached through the dotted name {path}"
            return Judgement(rule, candidate, note)
    if path.startswith("sklearn.") and segments and segments[-1][:1].isupper():
        return Judgement(_REVIEW, path)
    return Judgement(_UNKNOWN, path)
