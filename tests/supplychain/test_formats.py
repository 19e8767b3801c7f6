"""safetensors, ONNX, GGUF and Keras checks."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from pipeshield.supplychain import Verdict, scan_bytes, scan_file

from .builders import zip_bytes


def _safetensors(header: dict, body: bytes) -> bytes:  # type: ignore[type-arg]
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def test_safetensors_offsets_out_of_file_and_overlapping() -> None:
    past = _safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\x00" * 8)
    result = scan_bytes(past, "m.safetensors")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert any(f.rule == "PS-SAFETENSORS-OFFSETS" for f in result.findings)
    overlap = _safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\x00" * 12)
    assert any("overlaps" in f.message for f in scan_bytes(overlap).findings)
    wrong = _safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\x00" * 8)
    assert any(f.rule == "PS-SAFETENSORS-OFFSETS" for f in scan_bytes(wrong).findings)


def test_safetensors_bad_header_and_metadata() -> None:
    bad = struct.pack("<Q", 12) + b'{"a": nope }' + b"\x00"
    assert scan_bytes(bad).findings[0].rule == "PS-SAFETENSORS-HEADER"
    meta = _safetensors({"__metadata__": {"k": 1}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\x00")
    assert any("__metadata__" in f.message for f in scan_bytes(meta).findings)
    dup = struct.pack("<Q", 2 * 53 + 3)
    entry = '"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}'
    text = ("{" + entry + ", " + entry + "}").encode()
    dup = struct.pack("<Q", len(text)) + text + b"\x00"
    assert any("duplicate" in f.message for f in scan_bytes(dup).findings)


def test_onnx_external_data_escape_and_custom_domain(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 2])
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", "../../../etc/passwd"
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("Evil", ["h"], ["y"], domain="com.attacker")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w])
    model = helper.make_model(graph, producer_name="pytorch",
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.attacker", 1)])
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    result = scan_file(tmp_path / "m.onnx")
    assert result.verdict is Verdict.MALICIOUS
    rules = {f.rule: f for f in result.findings}
    assert rules["PS-ONNX-EXTERNAL-PATH"].callable == "../../../etc/passwd"
    assert "CVE-2024-27318" in rules["PS-ONNX-EXTERNAL-PATH"].references
    assert rules["PS-ONNX-CUSTOM-OP"].callable == "com.attacker.Evil"


def _gguf(template: str) -> bytes:
    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    kvs = [("general.architecture", 8, string("llama")), ("tokenizer.chat_template", 8, string(template))]
    body = b"".join(string(k) + struct.pack("<I", t) + v for k, t, v in kvs)
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + body


def test_gguf_chat_template() -> None:
    benign = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
    assert scan_bytes(_gguf(benign), "m.gguf").verdict is Verdict.CLEAN
    hostile = "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}"
    result = scan_bytes(_gguf(hostile), "m.gguf")
    assert result.verdict is Verdict.MALICIOUS
    assert result.findings[0].rule == "PS-GGUF-TEMPLATE" and "CVE-2024-34359" in result.findings[0].references
    assert scan_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 10**12)).verdict is Verdict.INCONCLUSIVE


def _keras_config(layer: dict) -> bytes:  # type: ignore[type-arg]
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "s", "layers": [{"module": "keras.layers", "class_name": "Dense",
                                                  "config": {"name": "d", "units": 2}}, layer]}}
    return json.dumps(config).encode()


def test_keras_lambda_and_unsafe_module() -> None:
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "evil", "function": {"class_name": "__lambda__"}}}
    data = zip_bytes({"metadata.json": b'{"keras_version": "3.8.0"}', "config.json": _keras_config(lam),
                      "model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"\x00" * 64})
    result = scan_bytes(data, "m.keras")
    assert result.verdict is Verdict.MALICIOUS and result.format == "keras"
    assert any(f.rule == "PS-KERAS-LAMBDA" and f.member == "config.json" for f in result.findings)
    call = {"module": "os", "class_name": "function", "config": "system", "registered_name": None}
    result = scan_bytes(zip_bytes({"config.json": _keras_config(call)}), "m.keras")
    assert any(f.rule == "PS-KERAS-UNSAFE-CALL" and f.callable == "os.system" for f in result.findings)
    clean = {"module": "keras.layers", "class_name": "ReLU", "config": {"name": "r"}}
    assert scan_bytes(zip_bytes({"config.json": _keras_config(clean)}), "m.keras").verdict is Verdict.CLEAN


def test_keras_h5_lambda_without_h5py() -> None:
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "evil"}}
    inner = json.loads(_keras_config(lam))
    inner.pop("module")
    blob = b"\x89HDF\r\n\x1a\n" + b"\x00" * 100 + b"model_config\x00" + json.dumps(inner).encode() + b"\x00" * 50
    result = scan_bytes(blob, "m.h5")
    assert result.verdict is Verdict.MALICIOUS and result.findings[0].rule == "PS-KERAS-LAMBDA"
    weights_only = b"\x89HDF\r\n\x1a\n" + np.zeros(64, dtype=np.uint8).tobytes()
    assert scan_bytes(weights_only, "w.h5").verdict is Verdict.CLEAN
