"""One regression test per published pickle-scanner bypass (REFERENCES.md "Pickle scanning").

Each test builds the hostile bytes itself and asserts the verdict *and* the callable and rule.
"""

from __future__ import annotations

import pickletools
import struct

import pytest

from pipeshield.supplychain import Verdict, scan_bytes
from pipeshield.supplychain.pickle.analyze import analyse_pickle
from pipeshield.supplychain.pickle.policy import judge

from .builders import call, global_only, s


def _assert_malicious(data: bytes, callable_: str, rule: str, name: str = "model.bin") -> None:
    result = scan_bytes(data, name)
    assert result.verdict is Verdict.MALICIOUS, result.findings
    assert any(f.callable == callable_ and f.rule == rule for f in result.findings), result.findings


# Callables that older denylists missed (picklescan/modelscan/fickling advisories 2024-2025).
NON_DENYLISTED = [
    ("pip", "main", "PS-PKL-INSTALL"),
    ("pkgutil", "resolve_name", "PS-PKL-RESOLVE-NAME"),
    ("pydoc", "locate", "PS-PKL-RESOLVE-NAME"),
    ("importlib", "import_module", "PS-PKL-RESOLVE-NAME"),
    ("inspect", "getattr_static", "PS-PKL-RESOLVE-NAME"),
    ("operator", "attrgetter", "PS-PKL-RESOLVE-NAME"),
    ("_operator", "itemgetter", "PS-PKL-RESOLVE-NAME"),
    ("operator", "methodcaller", "PS-PKL-RESOLVE-NAME"),
    ("functools", "partial", "PS-PKL-RESOLVE-NAME"),
    ("builtins", "getattr", "PS-PKL-RESOLVE-NAME"),
    ("types", "CodeType", "PS-PKL-EXEC-CODE"),
    ("types", "FunctionType", "PS-PKL-EXEC-CODE"),
    ("cloudpickle.cloudpickle", "_make_function", "PS-PKL-EXEC-CODE"),
    ("cProfile", "run", "PS-PKL-EXEC-CODE"),
    ("profile", "run", "PS-PKL-EXEC-CODE"),
    ("trace", "Trace", "PS-PKL-EXEC-CODE"),
    ("timeit", "timeit", "PS-PKL-EXEC-CODE"),
    ("doctest", "debug_script", "PS-PKL-EXEC-CODE"),
    ("code", "InteractiveInterpreter", "PS-PKL-EXEC-CODE"),
    ("builtins", "eval", "PS-PKL-EXEC-CODE"),
    ("builtins", "exec", "PS-PKL-EXEC-CODE"),
    ("numpy.testing._private.utils", "runstring", "PS-PKL-EXEC-CODE"),
    ("uuid", "_get_command_stdout", "PS-PKL-EXEC-PROCESS"),
    ("imaplib", "IMAP4_stream", "PS-PKL-EXEC-PROCESS"),
    ("pty", "spawn", "PS-PKL-EXEC-PROCESS"),
    ("ctypes", "CDLL", "PS-PKL-EXEC-PROCESS"),
    ("subprocess", "Popen", "PS-PKL-EXEC-PROCESS"),
    ("posix", "system", "PS-PKL-EXEC-PROCESS"),
    ("nt", "system", "PS-PKL-EXEC-PROCESS"),
    ("logging", "FileHandler", "PS-PKL-FILE-NETWORK"),
    ("_io", "FileIO", "PS-PKL-FILE-NETWORK"),
    ("urllib.request", "urlopen", "PS-PKL-FILE-NETWORK"),
    ("ssl", "get_server_certificate", "PS-PKL-FILE-NETWORK"),
    ("builtins", "open", "PS-PKL-FILE-NETWORK"),
    ("shutil", "rmtree", "PS-PKL-FILE-NETWORK"),
    ("socket", "create_connection", "PS-PKL-FILE-NETWORK"),
    ("webbrowser", "open", "PS-PKL-FILE-NETWORK"),
    ("torch", "load", "PS-PKL-NESTED-LOAD"),
    ("torch.storage", "_load_from_bytes", "PS-PKL-NESTED-LOAD"),
    ("numpy", "load", "PS-PKL-NESTED-LOAD"),
    ("pickle", "loads", "PS-PKL-NESTED-LOAD"),
    ("_pickle", "loads", "PS-PKL-NESTED-LOAD"),
    ("joblib", "load", "PS-PKL-NESTED-LOAD"),
    ("dill", "loads", "PS-PKL-NESTED-LOAD"),
    ("marshal", "loads", "PS-PKL-NESTED-LOAD"),
]


@pytest.mark.parametrize(("module", "name", "rule"), NON_DENYLISTED, ids=[f"{m}.{n}" for m, n, _ in NON_DENYLISTED])
def test_non_denylisted_callable_is_critical(module: str, name: str, rule: str) -> None:
    _assert_malicious(call(module, name, "x"), f"{module}.{name}", rule)


def test_unknown_callable_is_reported_not_clean() -> None:
    result = scan_bytes(call("mypackage.helpers", "do_something", "x"))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.findings[0].rule == "PS-PKL-NOT-ALLOWLISTED"
    assert result.findings[0].callable == "mypackage.helpers.do_something"


# -- name tricks ------------------------------------------------------------------------------
def test_dotted_name_in_stack_global() -> None:
    _assert_malicious(call("pathlib", "os.system", "id"), "pathlib.os.system", "PS-PKL-EXEC-PROCESS")


def test_dotted_name_through_an_allowlisted_module() -> None:
    _assert_malicious(call("torch.serialization", "os.system", "id"), "torch.serialization.os.system",
                      "PS-PKL-EXEC-PROCESS")


def test_submodule_of_denied_module() -> None:
    _assert_malicious(call("asyncio.unix_events", "_UnixSubprocessTransport", "x"),
                      "asyncio.unix_events._UnixSubprocessTransport", "PS-PKL-EXEC-PROCESS")


@pytest.mark.parametrize(("alias", "canonical"), [("posix", "os"), ("_operator", "operator"), ("_io", "io"), ("__builtin__", "builtins")])
def test_c_module_aliases_normalise(alias: str, canonical: str) -> None:
    name = {"os": "system", "operator": "attrgetter", "io": "open", "builtins": "eval"}[canonical]
    verdict = judge(alias, name)
    assert verdict is not None and verdict.matched == f"{canonical}.{name}"


def test_getattr_chain_names_the_resolved_callable() -> None:
    # builtins.getattr(importlib.import_module('os'), 'system')('id')
    data = (b"\x80\x04" + s("builtins") + s("getattr") + b"\x93" + s("importlib") + s("import_module")
            + b"\x93" + s("os") + b"\x85R" + s("system") + b"\x86R" + s("id") + b"\x85R.")
    result = scan_bytes(data)
    assert result.verdict is Verdict.MALICIOUS
    names = {f.callable for f in result.findings}
    assert {"builtins.getattr", "importlib.import_module", "os", "os.system"} <= names


def test_stack_global_operands_computed_at_load_time() -> None:
    # module and name come out of a call: no static reader can know them.
    data = (b"\x80\x04" + s("_codecs") + s("encode") + b"\x93" + s("os") + s("latin1") + b"\x86R"
            + s("system") + b"\x93" + s("id") + b"\x85R.")
    _assert_malicious(data, None, "PS-PKL-DYNAMIC-GLOBAL")  # type: ignore[arg-type]


def test_build_rewrites_a_global_numpy_prod_trick() -> None:
    # protectai/modelscan#85: BUILD sets numpy.prod.a = "os" and .b = "system", then GETs them.
    data = (b"\x80\x05cnumpy\nprod\nN(Va\nVos\nd\x86bN(Vb\nVsystem\nd\x86b0"
            b"cnumpy\nprod.a\np0\n0cnumpy\nprod.b\np1\n0g0\ng1\n\x93Vid\n\x85R.")
    result = scan_bytes(data)
    assert result.verdict is Verdict.MALICIOUS
    assert any(f.rule == "PS-PKL-MUTATE-GLOBAL" and f.callable == "numpy.prod" for f in result.findings)


# -- parser tricks ----------------------------------------------------------------------------
def test_no_proto_opcode_with_string_operands() -> None:
    _assert_malicious(global_only("os", "system"), "os.system", "PS-PKL-EXEC-PROCESS", "weights")


def test_stack_global_from_string_opcodes_without_proto() -> None:
    data = b"S'os'\nS'system'\n\x93(S'id'\ntR."
    _assert_malicious(data, "os.system", "PS-PKL-EXEC-PROCESS")


def test_memo_decoy_reused_put_index() -> None:
    # PUT 0 first holds a harmless name, then is overwritten with posix.system; GET 0 calls it.
    data = (b"\x80\x02ccollections\nOrderedDict\nq\x000cposix\nsystem\nq\x000"
            b"h\x00(X\x02\x00\x00\x00idtR.")
    _assert_malicious(data, "posix.system", "PS-PKL-EXEC-PROCESS")


def test_memo_decoy_memoize_counts_len_not_index() -> None:
    # BINPUT 5 then MEMOIZE: MEMOIZE stores at len(memo) == 1, not 6.
    data = (b"\x80\x04" + s("collections") + s("OrderedDict") + b"\x93q\x050"
            + s("os") + s("system") + b"\x93\x940h\x01" + s("id") + b"\x85R.")
    _assert_malicious(data, "os.system", "PS-PKL-EXEC-PROCESS")


def test_memo_decoy_missing_get_after_payload_keeps_findings() -> None:
    data = call("os", "system", "id")[:-1] + b"0h\x63."
    result = scan_bytes(data)
    assert result.verdict is Verdict.MALICIOUS
    assert {f.rule for f in result.findings} >= {"PS-PKL-EXEC-PROCESS", "PS-PKL-PARSE-ERROR"}


def test_memo_decoy_non_string_memo_values_for_stack_global() -> None:
    data = b"\x80\x04K\x01\x94K\x02\x94h\x00h\x01\x93)R."
    result = scan_bytes(data)
    assert result.verdict is not Verdict.CLEAN


def test_obj_followed_by_pop() -> None:
    data = b"\x80\x02(cposix\nsystem\nX\x02\x00\x00\x00ido0N."
    _assert_malicious(data, "posix.system", "PS-PKL-EXEC-PROCESS")


def test_inst_opcode() -> None:
    data = b"(S'id'\nios\nsystem\n."
    _assert_malicious(data, "os.system", "PS-PKL-EXEC-PROCESS")


def test_newobj_ex_and_ext_opcodes() -> None:
    data = b"\x80\x04" + s("subprocess") + s("Popen") + b"\x93" + s("id") + b"\x85}\x92."
    _assert_malicious(data, "subprocess.Popen", "PS-PKL-EXEC-PROCESS")
    ext = scan_bytes(b"\x80\x02\x82\x01(X\x02\x00\x00\x00idtR.")
    assert ext.verdict is Verdict.INCONCLUSIVE
    assert {f.rule for f in ext.findings} >= {"PS-PKL-EXTENSION", "PS-PKL-INDIRECT-CALL"}


def frame_trick(path: str = "frame-marker") -> bytes:
    """A pickle that pickletools reads as one BINBYTES, but the C unpickler reading a BytesIO
    (torch.load of a zip member) runs ``builtins.open(path, 'w')``."""
    payload = b"0" + s("builtins") + s("open") + b"\x93" + s(path) + s("w") + b"\x86R."
    linear_len = 2 + len(payload)
    frame = b"B" + struct.pack("<H", linear_len)
    return b"\x80\x04\x95" + struct.pack("<Q", len(frame)) + frame + b"\x00\x00\x00\x00" + payload + b"."


def test_frame_boundary_trick() -> None:
    data = frame_trick()
    ops = [op.name for op, _, _ in pickletools.genops(data)]
    assert "STACK_GLOBAL" not in ops  # what a pickletools-based scanner sees
    result = scan_bytes(data)
    assert result.verdict is Verdict.MALICIOUS
    rules = {f.rule for f in result.findings}
    assert {"PS-PKL-FRAME-MISMATCH", "PS-PKL-FILE-NETWORK"} <= rules
    assert any(f.callable == "builtins.open" for f in result.findings)


def test_nullifai_payload_before_broken_tail() -> None:
    data = call("posix", "system", "id")[:-1] + b"\x00\xff\xfe garbage"
    result = scan_bytes(data)
    assert result.verdict is Verdict.MALICIOUS
    assert any(f.rule == "PS-PKL-PARSE-ERROR" for f in result.findings)
    assert any(f.callable == "posix.system" for f in result.findings)


def test_broken_pickle_without_payload_is_inconclusive() -> None:
    result = scan_bytes(b"\x80\x04]K\x01a\xff\xff")
    assert result.verdict is Verdict.INCONCLUSIVE


def test_payload_in_a_later_concatenated_pickle() -> None:
    data = b"\x80\x02K\x01." + b"\x80\x02K\x02." + call("posix", "system", "id", proto=2)
    _assert_malicious(data, "posix.system", "PS-PKL-EXEC-PROCESS")
    assert analyse_pickle(data).trace.pickles == 3  # type: ignore[union-attr]


def test_payload_in_legacy_torch_style_fifth_pickle() -> None:
    magic = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
    data = magic + b"\x80\x02M\xe9\x03." + b"\x80\x02}q\x00." + call("posix", "system", "id", proto=2)
    _assert_malicious(data, "posix.system", "PS-PKL-EXEC-PROCESS")
