"""TensorFlow SavedModel and GraphDef files, built by hand from the wire format (no TensorFlow).

Field numbers from TensorFlow's public protos: SavedModel {schema_version = 1, meta_graphs = 2},
MetaGraphDef {meta_info_def = 1, graph_def = 2}, GraphDef {node = 1, library = 2},
FunctionDefLibrary {function = 1}, FunctionDef {signature = 1, node_def = 3},
NodeDef {name = 1, op = 2, input = 3, attr = 5}, AttrValue {s = 2}.
"""

from __future__ import annotations

import struct
from pathlib import Path

from pipeshield.supplychain import Verdict, scan_bytes, scan_path

from .builders import zip_bytes


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _node(name: str, op: str, *inputs: str, token: str | None = None) -> bytes:
    body = _len(1, name.encode()) + _len(2, op.encode()) + b"".join(_len(3, i.encode()) for i in inputs)
    if token is not None:
        body += _len(5, _len(1, b"token") + _len(2, _len(2, token.encode())))
    return body


def _graph(*nodes: bytes, functions: tuple[tuple[bytes, ...], ...] = ()) -> bytes:
    graph = b"".join(_len(1, n) for n in nodes)
    if functions:
        lib = b"".join(_len(1, _len(1, _len(1, b"fn")) + b"".join(_len(3, n) for n in fn)) for fn in functions)
        graph += _len(2, lib)
    return graph + _len(4, b"\x08\x9b\x07")  # versions {producer: 923}


def _saved_model(graph: bytes) -> bytes:
    meta_info = _len(1, _len(4, b"serve") + _len(5, b"2.16.1"))
    return b"\x08\x01" + _len(2, meta_info + _len(2, graph))


BENIGN = _graph(_node("x", "Placeholder"), _node("w", "VarHandleOp"), _node("mm", "MatMul", "x", "w"),
                _node("b", "Const"), _node("out", "Add", "mm", "b"), _node("save/SaveV2", "SaveV2"),
                _node("save/RestoreV2", "RestoreV2"))


def test_benign_graph_is_clean() -> None:
    result = scan_bytes(_saved_model(BENIGN), "saved_model.pb")
    assert result.format == "tf-savedmodel"
    assert result.verdict is Verdict.CLEAN, result.findings
    frozen = scan_bytes(BENIGN, "frozen.pb")
    assert frozen.format == "tf-graphdef" and frozen.verdict is Verdict.CLEAN


def test_pyfunc_is_malicious_and_named() -> None:
    graph = _graph(_node("x", "Placeholder"), _node("evil", "PyFunc", "x", token="pyfunc_0"))
    result = scan_bytes(_saved_model(graph), "saved_model.pb")
    assert result.verdict is Verdict.MALICIOUS
    finding = result.findings[0]
    assert finding.rule == "PS-TF-PYFUNC" and finding.callable == "PyFunc" and "pyfunc_0" in finding.message


def test_python_op_hidden_in_a_library_function() -> None:
    graph = _graph(_node("x", "Placeholder"), _node("call", "StatefulPartitionedCall", "x"),
                   functions=((_node("inner", "EagerPyFunc", token="pyfunc_3"),),))
    result = scan_bytes(_saved_model(graph))
    assert result.verdict is Verdict.MALICIOUS
    assert [f.callable for f in result.findings] == ["EagerPyFunc"]


def test_file_ops_are_flagged() -> None:
    for op in ("WriteFile", "ReadFile", "MatchingFiles"):
        graph = _graph(_node("path", "Const"), _node("io", op, "path"))
        result = scan_bytes(_saved_model(graph))
        assert result.verdict is Verdict.MALICIOUS, op
        assert result.findings[0].rule == "PS-TF-FILE-OP" and result.findings[0].callable == op


def test_truncated_protobuf_is_inconclusive() -> None:
    evil = _saved_model(_graph(_node("x", "Placeholder"), _node("evil", "PyFunc", token="t")))
    for cut in (len(evil) - 3, len(evil) // 2):
        result = scan_bytes(evil[:cut], "saved_model.pb")
        assert result.verdict is not Verdict.CLEAN, cut
        assert any(f.rule == "PS-TF-PARSE" for f in result.findings)


def test_wrong_wire_type_is_inconclusive() -> None:
    broken = _saved_model(b"\x08\x01" + _len(1, _node("x", "MatMul")))  # GraphDef.node as a varint
    result = scan_bytes(broken)
    assert result.format == "tf-savedmodel" and result.verdict is Verdict.INCONCLUSIVE


def test_saved_model_folder_and_archive(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(_saved_model(_graph(_node("w", "WriteFile"))))
    # variables.index: an SSTable whose 48-byte footer ends with the table magic number
    (folder / "variables" / "variables.index").write_bytes(b"\x00" * 40 + struct.pack("<Q", 0xDB4775248B80FB57))
    by_name = {Path(f.path).name: f for f in scan_path(folder).files}
    assert by_name["saved_model.pb"].verdict is Verdict.MALICIOUS
    assert by_name["variables.index"].verdict is Verdict.CLEAN
    archive = zip_bytes({"model/saved_model.pb": _saved_model(_graph(_node("p", "PyFuncStateless")))})
    result = scan_bytes(archive, "model.zip")
    assert result.verdict is Verdict.MALICIOUS and result.findings[0].member == "model/saved_model.pb"


def test_table_magic_does_not_hide_a_pickle() -> None:
    payload = b"cos\nsystem\n(S'id'\ntR." + struct.pack("<Q", 0xDB4775248B80FB57) * 6
    assert scan_bytes(payload).verdict is not Verdict.CLEAN
