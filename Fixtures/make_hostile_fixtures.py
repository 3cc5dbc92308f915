"""Hostile and malformed files for ModelPort's bad-input tests (Fixtures/hostile/).

Each file is wrong in one way: a shape that overflows, a zero stride or window, a size far
past the bytes present, a decompression bomb. Keras files start from a real fixture
(Fixtures/keras/channels_first.h5, mlp.h5) with one config value changed. Every file is a few
kilobytes; the bombs inflate to hundreds of megabytes. manifest.json lists each file with the
command to run and what is wrong with it. Deterministic: a rerun writes identical files.

    ~/venvs/ref/bin/python Fixtures/make_hostile_fixtures.py
"""
import io
import json
import os
import shutil
import struct
import zipfile
import zlib

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hostile")
KERAS = os.path.join(HERE, "keras")
MANIFEST = []


def record(name, command, what, model=None):
    entry = {"file": name, "command": command, "what": what}
    if model:
        entry["model"] = model  # the model `run` is given the file with, relative to Fixtures/
    MANIFEST.append(entry)


def npy_header(descr, shape, fortran=False):
    text = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, fortran, "".join(f"{d}, " for d in shape))
    text += " " * (63 - (len(text) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def npy_files():
    write("npy_shape_overflow.npy", npy_header("<f4", (2**32, 2**32, 16)) + bytes(16))
    record("npy_shape_overflow.npy", "run", "a shape whose element count overflows Int64")
    write("npy_claims_terabytes.npy", npy_header("<f4", (2**20, 2**20)) + bytes(64))
    record("npy_claims_terabytes.npy", "run", "4 TiB claimed, 64 bytes present")
    write("npy_negative_dim.npy", npy_header("<f4", (-3, 20)) + bytes(64))
    record("npy_negative_dim.npy", "run", "a negative dimension")
    write("npy_header_past_end.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + b"{'descr'")
    record("npy_header_past_end.npy", "run", "a header length past the end of the file")


def deflated_zip_member(name, head, zeros):
    """A zip with one deflated member: `head`, then `zeros` zero bytes, streamed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(head)
    chunk = bytes(1 << 20)
    crc = zlib.crc32(head)
    for _ in range(zeros >> 20):
        body += compressor.compress(chunk)
        crc = zlib.crc32(chunk, crc)
    body += compressor.flush()
    size = len(head) + (zeros >> 20 << 20)
    raw = name.encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(body), size, len(raw), 0) + raw
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(body), size,
                          len(raw), 0, 0, 0, 0, 0, 0) + raw
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(body), 0)
    return local + body + central + end


def npz_files():
    array = io.BytesIO()
    np.save(array, np.ones((2, 20), np.float32))
    # The member holds a valid 2 x 20 array, then 256 MiB of zeros after it.
    write("npz_bomb.npz", deflated_zip_member("features.npy", array.getvalue(), 256 << 20))
    record("npz_bomb.npz", "run", "a member that inflates to 256 MiB after a 160-byte array")


def keras_archive_files():
    config = b'{"class_name": "Sequential", "config": {"layers": []}}'
    write("keras_config_bomb.keras", deflated_zip_member("config.json", config, 200 << 20))
    record("keras_config_bomb.keras", "inspect", "a config.json that inflates to 200 MiB")
    # Members whose names climb out of the folder an extracting tool would write to.
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as z:
        for member, body in (("../../modelport-escape/config.json", config), ("/tmp/modelport-escape.h5", b"x"),
                             ("metadata.json", b'{"keras_version": "3.15.1"}')):
            info = zipfile.ZipInfo(member, date_time=(2026, 1, 1, 0, 0, 0))
            z.writestr(info, body)
    write("keras_escaping_names.keras", data.getvalue())
    record("keras_escaping_names.keras", "inspect", "members named ../../modelport-escape/config.json and /tmp/modelport-escape.h5")
    depth = 100_000
    nested = b'{"class_name": "Sequential", "config": {"layers": ' + b"[" * depth + b"]" * depth + b"}}"
    write("keras_config_deep_nesting.keras", deflated_zip_member("config.json", nested, 0))
    record("keras_config_deep_nesting.keras", "inspect", "a config.json with arrays nested 100,000 deep")


def edited_h5(name, source, edit, what):
    path = os.path.join(OUT, name)
    shutil.copy(os.path.join(KERAS, source), path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        edit(config["config"]["layers"])
        f.attrs["model_config"] = json.dumps(config)
    record(name, "inspect", what)


def layer(layers, cls):
    return next(l for l in layers if l["class_name"] == cls)["config"]


def keras_files():
    edited_h5("keras_conv_strides0.h5", "channels_first.h5", lambda ls: layer(ls, "Conv2D").update(strides=[0, 0]),
              "Conv2D strides [0, 0]")
    edited_h5("keras_conv_dilation0.h5", "channels_first.h5", lambda ls: layer(ls, "Conv2D").update(dilation_rate=[0, 0]),
              "Conv2D dilation_rate [0, 0]")
    edited_h5("keras_conv_groups0.h5", "channels_first.h5", lambda ls: layer(ls, "Conv2D").update(groups=0),
              "Conv2D groups 0")
    edited_h5("keras_pool_size0.h5", "channels_first.h5", lambda ls: layer(ls, "MaxPooling2D").update(pool_size=[0, 0]),
              "MaxPooling2D pool_size [0, 0]")
    edited_h5("keras_pool_strides0.h5", "channels_first.h5", lambda ls: layer(ls, "MaxPooling2D").update(strides=[0, 0]),
              "MaxPooling2D strides [0, 0]")
    edited_h5("keras_input_huge.h5", "channels_first.h5",
              lambda ls: layer(ls, "InputLayer").update(batch_input_shape=[None, 3, 2**40, 2**40]),
              "an input of 2^40 x 2^40 pixels")
    edited_h5("keras_dense_units_huge.h5", "mlp.h5", lambda ls: layer(ls, "Dense").update(units=2**40),
              "Dense units 2^40")
    edited_h5("keras_reshape_two_wildcards.h5", "mlp.h5",
              lambda ls: ls.insert(2, {"class_name": "Reshape", "config": {"name": "r", "target_shape": [-1, -1]}}),
              "a Reshape with two -1")


def hdf5_files():
    # A weight that claims 2.4 GiB with no bytes stored: a chunked dataset none of whose chunks was
    # written reads as its fill value, so a few-KB file would make a reader allocate gigabytes.
    name = "hdf5_weight_without_storage.h5"
    path = os.path.join(OUT, name)
    shutil.copy(os.path.join(KERAS, "mlp.h5"), path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layer(config["config"]["layers"], "InputLayer").update(batch_input_shape=[None, 20_000_000])
        f.attrs["model_config"] = json.dumps(config)
        group = f["model_weights/dense_1/dense_1"]
        del group["kernel:0"]
        group.create_dataset("kernel:0", shape=(20_000_000, 32), dtype="<f4", chunks=(65536, 32))
    record(name, "inspect", "a 2.4 GiB weight with no bytes stored (unwritten chunks read as fill values)")
    # A layer's weights behind an external link: reading them would open another file the link names.
    name = "hdf5_external_link.h5"
    path = os.path.join(OUT, name)
    shutil.copy(os.path.join(KERAS, "mlp.h5"), path)
    with h5py.File(path, "r+") as f:
        del f["model_weights/dense_1"]
        f["model_weights/dense_1"] = h5py.ExternalLink("/etc/passwd.h5", "/model_weights/dense_1")
    record(name, "inspect", "a layer's weights behind an external link to another file")


def varint(n):
    out = b""
    while True:
        out += bytes([n & 0x7F | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            return out


def onnx_model(name, nodes, inputs, outputs, initializers, what, command="inspect"):
    graph = helper.make_graph(nodes, name.split(".")[0], inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_hostile_fixtures")
    model.ir_version = 8
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(model.SerializeToString())
    record(name, command, what)


def onnx_files():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    onnx_model("onnx_conv_strides0.onnx", [helper.make_node("Conv", ["x", "w"], ["y"], strides=[0, 0])], [x], [y], [w],
               "Conv strides [0, 0]")
    onnx_model("onnx_conv_group0.onnx", [helper.make_node("Conv", ["x", "w"], ["y"], group=0)], [x], [y], [w], "Conv group 0")
    onnx_model("onnx_maxpool_kernel0.onnx", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[0, 0])], [x], [y], [],
               "MaxPool kernel_shape [0, 0]")
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2**40, 2**40], raw_data=bytes(16))
    onnx_model("onnx_initializer_huge.onnx", [helper.make_node("Add", ["x", "w"], ["y"])], [x], [y], [huge],
               "an initializer of 2^40 x 2^40 with 16 bytes of data")
    shape = numpy_helper.from_array(np.array([2**30, 2**30], np.int64), "s")
    onnx_model("onnx_constant_of_shape_huge.onnx", [helper.make_node("ConstantOfShape", ["s"], ["y"])], [], [y], [shape],
               "ConstantOfShape asking for 2^60 elements")
    scales = numpy_helper.from_array(np.array([1, 1, 1e9, 1e9], np.float32), "scales")
    onnx_model("onnx_resize_scales_huge.onnx", [helper.make_node("Resize", ["x", "", "scales"], ["y"])], [x], [y], [scales],
               "Resize with scales of 1e9")
    target = numpy_helper.from_array(np.array([-1, -1], np.int64), "t")
    onnx_model("onnx_reshape_two_wildcards.onnx", [helper.make_node("Reshape", ["x", "t"], ["y"])], [x], [y], [target],
               "Reshape with two -1")
    onnx_model("onnx_transpose_bad_perm.onnx", [helper.make_node("Transpose", ["x"], ["y"], perm=[0, 1, 2, 7])], [x], [y], [],
               "Transpose perm out of range")
    onnx_model("onnx_concat_axis_out_of_range.onnx", [helper.make_node("Concat", ["x", "x"], ["y"], axis=9)], [x], [y], [],
               "Concat axis 9 of a 4-D input")
    index = numpy_helper.from_array(np.array([0, 5], np.int64), "i")
    onnx_model("onnx_gather_index_out_of_range.onnx", [helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], [x], [y], [index],
               "Gather index 5 on an axis of 1")
    # A Range whose limit is data (the largest input value): its length is not a shape ModelPort can plan.
    limit = helper.make_tensor_value_info("limit", TensorProto.FLOAT, [])
    zero, one = (numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("zero", 0), ("one", 1)))
    onnx_model("onnx_range_from_data.onnx", [helper.make_node("Range", ["zero", "limit", "one"], ["y"])], [limit], [y], [zero, one],
               "Range sized by a graph input's value")
    slices = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
              (("starts", [0]), ("ends", [8]), ("axes", [2]), ("steps", [0]))]
    onnx_model("onnx_slice_step0.onnx", [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])], [x], [y],
               slices, "Slice step 0")
    # External data named at an offset far past the end of the file it names (another file here, 128 bytes).
    far = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    far.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "npy_negative_dim.npy"), ("offset", str(1 << 40)), ("length", "16")):
        entry = far.external_data.add()
        entry.key, entry.value = key, value
    onnx_model("onnx_external_offset_past_end.onnx", [helper.make_node("Add", ["x", "w"], ["y"])], [x], [y], [far],
               "external data at offset 2^40 of a 128-byte file")
    # Subgraphs nested 200 deep (If inside If ...): protobuf decoding recurses once per level. Python's
    # protobuf refuses to build it (its own depth limit is 100), so the bytes are written by hand.
    def field(number, payload):
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    def if_node(then_branch, else_branch):
        def attribute(name, graph):
            return field(1, name) + field(6, graph) + varint(20 << 3) + varint(5)  # type GRAPH
        return field(1, b"c") + field(2, b"y") + field(4, b"If") + field(5, attribute(b"then_branch", then_branch)) + \
            field(5, attribute(b"else_branch", else_branch))

    leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "leaf", [], [y]).SerializeToString()
    inner = leaf
    for level in range(200):
        inner = field(1, if_node(inner, leaf)) + field(2, b"g%d" % level) + field(12, y.SerializeToString())
    c = numpy_helper.from_array(np.array(True), "c")
    graph = field(1, if_node(inner, leaf)) + field(2, b"deep") + field(5, c.SerializeToString()) + \
        field(11, x.SerializeToString()) + field(12, y.SerializeToString())
    opset = field(1, b"") + varint(2 << 3) + varint(17)
    write("onnx_subgraphs_200_deep.onnx", varint(1 << 3) + varint(8) + field(8, opset) + field(7, graph))
    record("onnx_subgraphs_200_deep.onnx", "inspect", "If subgraphs nested 200 deep")


# Found by  (the onnx target): a Slice node with no outputs.
FUZZ_FOUND = {
    "fuzz_reshape_overflow.onnx": ("inspect", "Reshape whose target sizes multiply past Int64 (found by libFuzzer)", "080812126d6f64656c706f72742d66697874757265733ada010a1f0a01580a0573686170651201721a07726573686170652207526573686170650a330a01720a04617865731201591a0972656475636573756d220952656475636553756d2a0f0a086b65657064696d731800a001021215726573686170655f64796e616d69635f62617463682a2508031007420573686170654a180000000000000000fdfffffffff9000002000000300000002a14080110074204617865734a0802000000000000005a180a015812130a110801120d0a0312014e0a0208020a02080362140a0159120f0a0d080112090a0312014e0a02080342040a001012"),
    "fuzz_pad_overflow.onnx": ("inspect", "Pad with pads near 2^62 (found by libFuzzer)", "080812126d6f64656c706f72742d66697874757265733aa9010a2a0a01580a04706164731201591a0370616422035061642a120a046d6f646522077265666c656374a00103120b7061645f7265666c6563742a3c080610074204706164734a30000000736565645f7369676d6f69642f706f6f6c5f322f4d6178506f6f6c3a30020000000000000001000000000000005a170a015812120a100801120c0a0208020a0208030a02080462170a015912120a100801120c0a0208030a0208060a02080742040a001012"),
    "fuzz_resize_scale_overflow.onnx": ("inspect", "Resize whose scale times the input overflows Int (found by libFuzzer)", "080812156d616b655f686f7374696c655f66697874757265733a7b0a180a01780a000a067363616c65731201792206526573697a6512176f6e6e785f726573697a655f7363616c65735f687567652a1e0804100142067363616c65734a100000803f0000803f286b6e4e286b6e5e5a1b0a017812160a14080112100a0208010a0208010a0208080a02080862090a017912040a00080142040a001011"),
    "fuzz_conv_transpose_short_pads.onnx": ("inspect", "a 3-D ConvTranspose with 5 pads (found by libFuzzer in CI)", "080812126d6f64656c706f72742d66697874757265733aa4040a81010a01580a01570a01421201591a086465636f6e763364220d436f6e765472616e73706f73652a140a0964696c6174696f6e73400140024001a001072a190a0e6f75747075745f70616464696e67400140004000a001072a150a0470616473480140004001400040024000a010072a120a0773747269646573400240014002a001071210636f6e767472616e73706f73655f33642ab2020802080308020803080210014201574aa0021c65dabd63a19e3c121a813e4f4e083f3587b03e4abbc03da658ddbe655090be156ed03a4300dbbefc9a433e5c9fe83cb0c9273f2fa4efbde890203e44402a3e0c25723ece1f58bebaa8a0be4acb2f3ebcf3453e2ad56d3e39b12e3d776e233d72a8a3be8da641be6822b73ed27b9ebefb0a013f8015343e3f8678be5f864bbeffea48bc8d18b8befd934abfe27e6e3e8dbb48be15d6ebbb8f69af3d32b85fbdd824fe3d3af73dbe3bcbd3be1d4e37bf5a95503d133c363ea713373e5258803ec8c40f3daaee9b3e0615b33e1415bebe98c7bbbe91d3a83e8677983e01d7ae3db0f22b3e8cf2b03e4ffe32bde3ceac3e0ea6bcbe8e4cd1bee0be47bdba2f80bd3c6919bf24ed103f8fa0333c4a66f4bdaf950d3e9dc4e83e589d80be25eb9bbe2a15080310014201424a0c15e84fbc5eae60bd88e2ddbd5a1f0a0158121a0a18080112140a0208010a0208020a0208030a0208040a020803621f0a0159121a0a18084112140a0208010a0208030a0208060a0208060a02080542040a001012"),
    "fuzz_slice_without_outputs.onnx": ("inspect", "a Slice node with no outputs (found by libFuzzer)", "080812126d6f64656c706f72742d66697874757265733aeb010a2f0a01580a067374617274730a04656e64730804617865730a0573746525731201591a05736c6963652205536c696365120b736c6963655f73746570732a1e0802100742067374617274734a10ffffffffffffffff01000000000000002a1c080210074204656e64734a10f9ffffffffffffff05000000000000002a1c080210074204617865734a10000000000000000002000000000000002a1d08021007420573746570734a10feffffffffffffff02000000000000005a170a015812120a100801120c0a0208060a0208050a02080462170a015912120a100801120c0a0208030a0208050a02080242040a001012"),
}


# Found by `make fuzz` (the keras-h5 target) as a 3-byte mutation of keras/mlp.h5: object 9 of
# the global heap collection at byte 25024 claims 234881024 bytes, and libhdf5 1.10's H5HG_read
# copies that much past the collection (a segfault) when a variable-length string is read.
FUZZ_PATCHED = {
    "fuzz_h5_global_heap_size.h5": ("inspect", "an HDF5 global heap object claiming 224 MiB in a 4 KiB collection (found by libFuzzer)",
                                    "keras/mlp.h5", {25420: 1, 25424: 0, 25427: 14}),
    # `make fuzz` then timed out on a free-space object of size 0 (libhdf5's heap walk steps by it and
    # never moves on); the same damage, made by hand in mlp.h5's second collection (its free space at 25504).
    "fuzz_h5_global_heap_free_space.h5": ("inspect", "an HDF5 global heap free space of size 0: libhdf5 1.10 loops forever (found by libFuzzer)",
                                          "keras/mlp.h5", {25512: 0, 25513: 0}),
}


# Inputs found by `make fuzz` that are not small patches of a fixture, kept as found in
# Fixtures/bad/ (name: command, what is wrong); copied into hostile/ with the rest.
FUZZ_FOUND_FILES = {
    "libhdf5_attribute_name_overread.h5": ("inspect", "an attribute name without its NUL inside the attribute message: "
                                           "libhdf5's strdup reads past the buffer (found by libFuzzer, keras-h5)"),
    "libhdf5_cache_entry_32gb.h5": ("inspect", "a damaged object header entry whose claimed size makes libhdf5's metadata "
                                    "cache allocate 32 GB (found by libFuzzer in CI, keras-h5)"),
    "libhdf5_memory_keras.keras": ("inspect", "a .keras whose model.weights.h5 makes libhdf5 allocate 1.8 GB reading one "
                                   "string attribute (found by libFuzzer, keras-zip)"),
    "fuzz_reshape_zero_wildcard.h5": ("inspect", "a Reshape to target_shape [0, -1]: a remainder by zero in shape inference "
                                      "(found by libFuzzer in CI, keras-h5, on an AVX2 EPYC)"),
}


def token_files():
    """Token ids for the tiny DistilBERT (Fixtures/text, vocabulary 1000): ids the embedding table
    does not have, and a sequence length no plan should be made for."""
    model = "text/distilbert.torchscript.onnx"
    rng = np.random.default_rng(20261207)
    ids = rng.integers(0, 1000, (3, 16)).astype(np.int64)
    mask = np.ones((3, 16), np.int64)

    def npz(name, arrays, what):
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        write(name, buf.getvalue())
        record(name, "run", what, model)

    bad = ids.copy()
    bad[2, 7] = 1003
    npz("tokens_id_out_of_range.npz", {"input_ids": bad, "attention_mask": mask}, "token id 1003 for a table of 1000 rows")
    bad = ids.copy()
    bad[1, 3] = -5
    npz("tokens_id_negative.npz", {"input_ids": bad, "attention_mask": mask}, "a negative token id")
    frac = ids.astype(np.float32)
    frac[0, 2] = 3.5
    npz("tokens_id_fraction.npz", {"input_ids": frac, "attention_mask": mask}, "a token id of 3.5")
    huge = 1 << 21
    npz("tokens_sequence_2m.npz", {"input_ids": np.zeros((1, huge), np.int64), "attention_mask": np.ones((1, huge), np.int64)},
        "a sequence of 2,097,152 tokens (past what a plan is made for)")
    # A header claiming a sequence of 10^9 tokens, with 16 of them stored.
    member = npy_header("<i8", (1, 10**9)) + ids[0].tobytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in (("input_ids.npy", member), ("attention_mask.npy", npy_header("<i8", (1, 10**9)) + mask[0].tobytes())):
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    write("tokens_sequence_1e9_claimed.npz", buf.getvalue())
    record("tokens_sequence_1e9_claimed.npz", "run", "a header claiming 10^9 tokens, 16 stored", model)


def typed_files():
    """Integer arithmetic inside a model (typed/hash_buckets.onnx hashes token ids into buckets):
    ids whose products pass 2^24, which float32 storage cannot hold exactly."""
    ids = np.random.default_rng(20261208).integers(1000, 50000, (3, 10)).astype(np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, input_ids=ids)
    write("typed_hash_product_past_2_24.npz", buf.getvalue())
    record("typed_hash_product_past_2_24.npz", "run", "token ids whose hash products (ids * 1000003) pass 2^24",
           "typed/hash_buckets.onnx")


def fuzz_found_files():
    for name, (command, what) in FUZZ_FOUND_FILES.items():
        shutil.copy(os.path.join(HERE, "bad", name), os.path.join(OUT, name))
        record(name, command, what)
    for name, (command, what, hex_bytes) in FUZZ_FOUND.items():
        write(name, bytes.fromhex(hex_bytes))
        record(name, command, what)
    for name, (command, what, source, patch) in FUZZ_PATCHED.items():
        data = bytearray(open(os.path.join(os.path.dirname(OUT), source), "rb").read())
        for offset, value in patch.items():
            data[offset] = value
        write(name, bytes(data))
        record(name, command, what)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    npy_files()
    npz_files()
    keras_archive_files()
    keras_files()
    hdf5_files()
    onnx_files()
    token_files()
    typed_files()
    fuzz_found_files()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(MANIFEST, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
