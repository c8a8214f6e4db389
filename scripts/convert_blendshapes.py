"""Convert MediaPipe's ``face_blendshapes.tflite`` to ONNX with a batch axis, once.

Usage (needs ``ai-edge-litert==2.3.0`` for reading and checking the TFLite model; the
package itself never imports it)::

    pip install ai-edge-litert==2.3.0
    python scripts/convert_blendshapes.py path/to/face_landmarker.task \
        src/vafusion/assets/faces/face_blendshapes.onnx

The input is MediaPipe's FaceLandmarker bundle (a zip holding ``face_blendshapes.tflite``)
or the ``.tflite`` itself. The TFLite graph is translated operator by operator (the 17
builtin operators it uses; anything else is refused), keeping its NHWC tensors but making
the leading batch axis dynamic: input ``points`` (N, 146, 2) float32, output
``blendshapes`` (N, 52) float32. TFLite fixes the batch at 1 (its reshapes are constant
and resizing the input fails), which is why it is converted rather than run as is.

The float16 weights stay float16 in the file (``Cast`` to float32, as TFLite's
``DEQUANTIZE`` does), so the values are bit-identical. Two rewrites for ONNX Runtime's CPU
kernels, same arithmetic: each 1x1 convolution becomes a 2-D ``Gemm`` (bias and ReLU fused),
and each layer norm that TFLite spells out in ten operators becomes one
``LayerNormalization``. The converted model is checked
against the TFLite interpreter on meshes of the bundled sample clip (tracked by
vafusion's own face tracker) and on random point clouds, face by face; the script fails if
any score differs by more than ``--tol``. It prints the sha256 to put into
:data:`vafusion.faces.blendshapes.MODEL_SHA256`.

Why hand-written: the maintained converters need TensorFlow (tf2onnx) or are unmaintained
(tflite2onnx); the graph is small and regular, and the check above covers every operator.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TFLITE_MEMBER = "face_blendshapes.tflite"
OPSET = 18


def read_tflite_bytes(path: Path) -> bytes:
    """The ``.tflite`` bytes from a FaceLandmarker ``.task`` bundle or a bare file."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return zf.read(TFLITE_MEMBER)
    return path.read_bytes()


class Converter:
    """Translate one TFLite subgraph to ONNX nodes (batch axis made dynamic)."""

    def __init__(self, buf: bytes) -> None:
        from ai_edge_litert import schema_py_generated as schema

        self.s = schema
        self.model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
        self.g = self.model.subgraphs[0]
        self.op_names = {
            v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")
        }
        self.static: set[int] = set()  # tensors computed from constants only (no batch axis)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    # ---------------------------------------------------------------- helpers
    def name(self, t: int) -> str:
        return f"t{t}"

    def fresh(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, t: int) -> np.ndarray | None:
        """The constant value of tensor ``t`` (None when computed)."""
        tensor = self.g.tensors[t]
        data = self.model.buffers[tensor.buffer].data
        if data is None or len(data) == 0:
            return None
        dtypes = {0: np.float32, 1: np.float16, 2: np.int32}
        if tensor.type not in dtypes:
            raise SystemExit(f"tensor {t}: unsupported constant type {tensor.type}")
        arr = np.frombuffer(bytes(bytearray(data)), dtype=dtypes[tensor.type])
        shape = () if tensor.shape is None else tuple(int(d) for d in tensor.shape)
        return arr.reshape(shape)

    def is_static(self, t: int) -> bool:
        """Whether tensor ``t`` does not depend on the input."""
        return int(t) in self.static or self.const(t) is not None

    def add_init(self, value: np.ndarray, stem: str) -> str:
        n = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value), n))
        return n

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, **attrs))

    def operand(self, t: int) -> str:
        """ONNX name of tensor ``t``; constants become initializers on first use."""
        value = self.const(t)
        n = self.name(t)
        if value is not None and n not in {i.name for i in self.inits}:
            self.inits.append(numpy_helper.from_array(value, n))
        return n

    def activation(self, out: str, fused: int) -> None:
        if fused == 0:
            return
        if fused != 1:  # 1 = RELU; the model uses nothing else
            raise SystemExit(f"unsupported fused activation {fused}")
        pre = self.fresh("pre_relu")
        self.nodes[-1].output[0] = pre
        self.node("Relu", [pre], [out])

    # ---------------------------------------------------------------- operators
    def convert(self) -> onnx.ModelProto:
        g = self.g
        (inp,) = g.inputs
        (out,) = g.outputs
        final = out
        fused, skipped = self.layer_norms()
        for i, op in enumerate(g.operators):
            kind = self.kind(op)
            if i in skipped:
                continue
            if i in fused:
                x, scale, eps = fused[i]
                self.node(
                    "LayerNormalization",
                    [self.operand(x), self.operand(scale)],
                    [self.name(op.outputs[0])],
                    axis=-1,
                    epsilon=eps,
                )
                continue
            if (
                kind == "STRIDED_SLICE"
                and op.outputs[0] == out
                and op.builtinOptions.shrinkAxisMask == 1
            ):
                final = op.inputs[0]  # the batch squeeze at the end: keep (N, 52)
                continue
            getattr(self, f"op_{kind.lower()}")(op)
            if all(self.is_static(t) for t in op.inputs if t >= 0):
                self.static.update(int(t) for t in op.outputs)
        self.node("Identity", [self.name(final)], ["blendshapes"])
        self.nodes.insert(0, helper.make_node("Identity", ["points"], [self.name(inp)]))
        graph = helper.make_graph(
            self.nodes,
            "face_blendshapes",
            [helper.make_tensor_value_info("points", TensorProto.FLOAT, ["N", 146, 2])],
            [helper.make_tensor_value_info("blendshapes", TensorProto.FLOAT, ["N", 52])],
            self.inits,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="vafusion scripts/convert_blendshapes.py",
        )
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model

    def kind(self, op) -> str:
        code = self.model.operatorCodes[op.opcodeIndex]
        return self.op_names[max(code.builtinCode, code.deprecatedBuiltinCode)]

    def static_value(self, t: int) -> np.ndarray | None:
        """Value of a constant, or of a DEQUANTIZE of one (float32); else None."""
        value = self.const(t)
        if value is not None:
            return value.astype(np.float32)
        for op in self.g.operators:
            if op.outputs[0] == t and self.kind(op) == "DEQUANTIZE":
                inner = self.const(op.inputs[0])
                return None if inner is None else inner.astype(np.float32)
        return None

    def layer_norms(self) -> tuple[dict[int, tuple[int, int, float]], set[int]]:
        """Find TFLite's decomposed layer norms over the last axis (no bias)::

            m = MEAN(x); v = MEAN(SQUARED_DIFFERENCE(x, m)); r = RSQRT(ADD(v, eps))
            s = MUL(r, gamma); y = ADD(MUL(x, s), MUL(NEG(m), s))

        Returns ``{index of the final ADD: (x, gamma, eps)}`` and the indices of the other
        operators of each match (replaced by one ONNX ``LayerNormalization``, which ONNX
        Runtime runs as one kernel). Every intermediate must be used only inside the match.
        """
        ops = self.g.operators
        producer = {int(t): i for i, op in enumerate(ops) for t in op.outputs}
        users: dict[int, list[int]] = {}
        for i, op in enumerate(ops):
            for t in op.inputs:
                users.setdefault(int(t), []).append(i)

        def only(t: int, kind: str) -> int | None:
            us = users.get(int(t), [])
            return us[0] if len(us) == 1 and self.kind(ops[us[0]]) == kind else None

        def chain(start: int, kinds: tuple[str, ...]) -> list[int] | None:
            """Operators following ``start`` one sole user at a time, of these kinds."""
            found = []
            for kind in kinds:
                nxt = only(ops[found[-1] if found else start].outputs[0], kind)
                if nxt is None:
                    return None
                found.append(nxt)
            return found

        fused: dict[int, tuple[int, int, float]] = {}
        skipped: set[int] = set()
        for i, op in enumerate(ops):
            if self.kind(op) != "MEAN" or not op.builtinOptions.keepDims:
                continue
            rank = len(self.g.tensors[op.inputs[0]].shape)
            if [int(a) % rank for a in np.atleast_1d(self.const(op.inputs[1]))] != [rank - 1]:
                continue
            x, m = int(op.inputs[0]), int(op.outputs[0])
            kinds = sorted(self.kind(ops[u]) for u in users.get(m, []))
            if kinds != ["NEG", "SQUARED_DIFFERENCE"]:
                continue
            neg = next(u for u in users[m] if self.kind(ops[u]) == "NEG")
            sqd = next(u for u in users[m] if self.kind(ops[u]) == "SQUARED_DIFFERENCE")
            found = chain(sqd, ("MEAN", "ADD", "RSQRT", "MUL"))
            if found is None:
                continue
            mean2, add_eps, rsqrt, mul_g = found
            s = int(ops[mul_g].outputs[0])
            muls = users.get(s, [])
            if len(muls) != 2 or any(self.kind(ops[u]) != "MUL" for u in muls):
                continue
            mul_x = next((u for u in muls if x in ops[u].inputs), None)
            mul_m = next((u for u in muls if int(ops[neg].outputs[0]) in ops[u].inputs), None)
            if mul_x is None or mul_m is None or only(ops[neg].outputs[0], "MUL") != mul_m:
                continue
            final = only(ops[mul_x].outputs[0], "ADD")
            if final is None or producer.get(int(ops[mul_m].outputs[0])) != mul_m:
                continue
            if set(ops[final].inputs) != {ops[mul_x].outputs[0], ops[mul_m].outputs[0]}:
                continue
            eps_t = next(t for t in ops[add_eps].inputs if t != ops[mean2].outputs[0])
            gamma = next(t for t in ops[mul_g].inputs if t != ops[rsqrt].outputs[0])
            eps = self.static_value(eps_t)
            if eps is None or eps.size != 1 or self.static_value(gamma) is None:
                continue
            fused[final] = (x, int(gamma), float(eps.reshape(())))
            skipped |= {i, neg, sqd, mean2, add_eps, rsqrt, mul_g, mul_x, mul_m}
        return fused, skipped

    def _io(self, op) -> tuple[list[str], str]:
        return [self.operand(t) for t in op.inputs], self.name(op.outputs[0])

    def _binary(self, onnx_op: str, op) -> None:
        ins, out = self._io(op)
        self.node(onnx_op, ins, [out])
        fused = getattr(op.builtinOptions, "fusedActivationFunction", 0)
        self.activation(out, fused)

    def op_add(self, op) -> None:
        self._binary("Add", op)

    def op_sub(self, op) -> None:
        self._binary("Sub", op)

    def op_mul(self, op) -> None:
        self._binary("Mul", op)

    def op_div(self, op) -> None:
        self._binary("Div", op)

    def op_squared_difference(self, op) -> None:
        ins, out = self._io(op)
        d = self.fresh("diff")
        self.node("Sub", ins, [d])
        self.node("Mul", [d, d], [out])

    def _unary(self, onnx_op: str, op) -> None:
        ins, out = self._io(op)
        self.node(onnx_op, ins[:1], [out])

    def op_neg(self, op) -> None:
        self._unary("Neg", op)

    def op_sqrt(self, op) -> None:
        self._unary("Sqrt", op)

    def op_logistic(self, op) -> None:
        self._unary("Sigmoid", op)

    def op_rsqrt(self, op) -> None:
        ins, out = self._io(op)
        r = self.fresh("sqrt")
        self.node("Sqrt", ins[:1], [r])
        self.node("Reciprocal", [r], [out])

    def op_dequantize(self, op) -> None:
        ins, out = self._io(op)
        self.node("Cast", ins[:1], [out], to=TensorProto.FLOAT)

    def _reduce(self, onnx_op: str, op) -> None:
        axes = self.const(op.inputs[1])
        rank = len(self.g.tensors[op.inputs[0]].shape)
        axes = np.atleast_1d(axes).astype(np.int64) % rank
        if 0 in axes:
            raise SystemExit("a reduction over the batch axis cannot be batched")
        keep = int(bool(op.builtinOptions.keepDims))
        self.node(
            onnx_op,
            [self.operand(op.inputs[0]), self.add_init(axes, "axes")],
            [self.name(op.outputs[0])],
            keepdims=keep,
        )

    def op_mean(self, op) -> None:
        self._reduce("ReduceMean", op)

    def op_sum(self, op) -> None:
        self._reduce("ReduceSum", op)

    def op_reshape(self, op) -> None:
        shape = self.const(op.inputs[1]).astype(np.int64).copy()
        if shape[0] != 1:
            raise SystemExit(f"reshape to {shape}: expected a leading batch axis of 1")
        shape[0] = -1  # the batch axis
        self.node(
            "Reshape",
            [self.operand(op.inputs[0]), self.add_init(shape, "shape")],
            [self.name(op.outputs[0])],
        )

    def op_transpose(self, op) -> None:
        perm = [int(p) for p in self.const(op.inputs[1])]
        if perm[0] != 0:
            raise SystemExit(f"transpose {perm} moves the batch axis")
        self.node("Transpose", [self.operand(op.inputs[0])], [self.name(op.outputs[0])], perm=perm)

    def op_strided_slice(self, op) -> None:
        o = op.builtinOptions
        if o.ellipsisMask or o.newAxisMask or o.shrinkAxisMask or o.offset:
            raise SystemExit("strided slice with ellipsis/new-axis/shrink/offset not supported")
        begin, end, strides = (self.const(t) for t in op.inputs[1:4])
        axes, starts, ends, steps = [], [], [], []
        big = np.iinfo(np.int64).max
        for ax in range(len(begin)):
            b = None if o.beginMask >> ax & 1 else int(begin[ax])
            e = None if o.endMask >> ax & 1 else int(end[ax])
            if b is None and e is None and strides[ax] == 1:
                continue  # the whole axis
            if ax == 0:
                raise SystemExit("strided slice on the batch axis cannot be batched")
            axes.append(ax)
            starts.append(0 if b is None else b)
            ends.append(big if e is None else e)
            steps.append(int(strides[ax]))
        src, out = self.operand(op.inputs[0]), self.name(op.outputs[0])
        if not axes:
            self.node("Identity", [src], [out])
            return
        args = [np.asarray(v, dtype=np.int64) for v in (starts, ends, axes, steps)]
        stems = ("starts", "ends", "axes", "steps")
        names = [self.add_init(a, s) for a, s in zip(args, stems, strict=True)]
        self.node("Slice", [src, *names], [out])

    def op_concatenation(self, op) -> None:
        """Concatenate; constant inputs (the class token) are expanded to the batch."""
        axis = int(op.builtinOptions.axis)
        computed = [t for t in op.inputs if not self.is_static(t)]
        ref = self.fresh("batch")
        self.node("Shape", [self.operand(computed[0])], [ref], start=0, end=1)
        ins = []
        for t in op.inputs:
            if not self.is_static(t):
                ins.append(self.operand(t))
                continue
            shape = [int(d) for d in self.g.tensors[t].shape]
            if shape[0] != 1:
                raise SystemExit("constant concatenation input without a batch axis of 1")
            tail = self.add_init(np.asarray(shape[1:], dtype=np.int64), "tail")
            shape = self.fresh("shape")
            self.node("Concat", [ref, tail], [shape], axis=0)
            expanded = self.fresh("expanded")
            self.node("Expand", [self.operand(t), shape], [expanded])
            ins.append(expanded)
        self.node("Concat", ins, [self.name(op.outputs[0])], axis=axis)
        self.activation(self.name(op.outputs[0]), op.builtinOptions.fusedActivationFunction)

    def op_conv_2d(self, op) -> None:
        """A 1x1, stride-1 convolution on NHWC = a dense layer on the last axis.

        Written as a 2-D ``Gemm`` on (N * H * W, C) rows (bias and ReLU fuse into it in
        ONNX Runtime), reshaped back to (N, H, W, O).
        """
        o = op.builtinOptions
        w_t, b_t = op.inputs[1], op.inputs[2]
        w_shape = tuple(int(d) for d in self.g.tensors[w_t].shape)
        if w_shape[1:3] != (1, 1) or (o.strideH, o.strideW) != (1, 1):
            raise SystemExit(f"only 1x1 stride-1 convolutions are supported, got {w_shape}")
        if (o.dilationHFactor, o.dilationWFactor) != (1, 1):
            raise SystemExit("dilated convolution not supported")
        in_shape = [int(d) for d in self.g.tensors[op.inputs[0]].shape]
        rows_shape = self.add_init(np.array([-1, w_shape[3]], np.int64), "rows")
        w, rows, gemm = self.fresh("w"), self.fresh("rows"), self.fresh("gemm")
        wshape = self.add_init(np.array([w_shape[0], w_shape[3]], np.int64), "wshape")
        self.node("Reshape", [self.operand(w_t), wshape], [w])
        self.node("Reshape", [self.operand(op.inputs[0]), rows_shape], [rows])
        self.node("Gemm", [rows, w, self.operand(b_t)], [gemm], transB=1)
        out = self.name(op.outputs[0])
        back = self.add_init(np.array([-1, *in_shape[1:3], w_shape[0]], np.int64), "back")
        self.node("Reshape", [gemm, back], [out])
        if o.fusedActivationFunction:
            self.nodes[-1].input[0] = pre = self.fresh("pre_relu")
            self.nodes.insert(-1, helper.make_node("Relu", [gemm], [pre]))


def tflite_scores(buf: bytes, points: np.ndarray) -> np.ndarray:
    """Run the TFLite model face by face: (N, 146, 2) -> (N, 52)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=buf)
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    out = it.get_output_details()[0]["index"]
    rows = []
    for p in points:
        it.set_tensor(inp, p[None].astype(np.float32))
        it.invoke()
        rows.append(it.get_tensor(out).reshape(-1).copy())
    return np.stack(rows)


def sample_points(n_random: int, seed: int = 0) -> np.ndarray:
    """Check inputs: subset points of meshes tracked on the bundled clip + random clouds."""
    from vafusion.demo import sample_clip
    from vafusion.faces.blendshapes import model_input
    from vafusion.faces.tracker import FaceTracker
    from vafusion.io.media import scan

    tracker = FaceTracker()
    meshes = []

    def on_frame(frame) -> None:
        for face in tracker.process(frame):
            meshes.append(face.landmarks)

    with sample_clip() as clip:
        scan(clip, on_frame)
    tracker.close()
    real = model_input(np.stack(meshes))
    rng = np.random.default_rng(seed)
    rand = rng.normal(0, 100, (n_random, 146, 2)).astype(np.float32) + rng.uniform(
        0, 500, (n_random, 1, 2)
    )
    return np.concatenate([real, rand.astype(np.float32)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, help="face_landmarker.task or face_blendshapes.tflite")
    p.add_argument("out", type=Path, help="output .onnx")
    p.add_argument("--tol", type=float, default=1e-4, help="max |ONNX - TFLite| per score")
    a = p.parse_args(argv)
    buf = read_tflite_bytes(a.source)
    print(f"tflite sha256 {hashlib.sha256(buf).hexdigest()}")
    model = Converter(buf).convert()
    data = model.SerializeToString()

    import onnxruntime as ort

    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    pts = sample_points(64)
    ours = sess.run(None, {"points": pts})[0]
    ref = tflite_scores(buf, pts)
    err = np.abs(ours - ref).max(axis=1)
    print(
        f"checked {len(pts)} inputs: max |onnx - tflite| = {err.max():.2e} "
        f"(median {np.median(err):.2e})"
    )
    if not err.max() <= a.tol:
        print(f"error: difference above --tol {a.tol}", file=sys.stderr)
        return 1
    a.out.write_bytes(data)
    print(f"wrote {a.out} ({len(data)} bytes) sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
