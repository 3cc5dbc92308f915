import Foundation
import ModelIR

/// Data movement where each output element copies one input element (or a fill value), and the
/// source index along each axis depends only on the output index along that axis: ONNX Slice
/// with steps, Pad in every mode, Expand.
enum AxisMap {
    case stridedSlice(starts: [Int], ends: [Int], steps: [Int], axes: [Int])
    case pad(pads: [Int], mode: PadMode)
    case expand
    /// Output index j reads j mod the input's length (ONNX Tile).
    case tile

    /// Per output axis, the input index each output index reads (-1: the fill value).
    /// `inShape` is already padded to the output's rank.
    func tables(inShape: [Int], outShape: [Int]) -> [[Int]] {
        var tables = outShape.indices.map { Array(0..<outShape[$0]) }
        switch self {
        case let .stridedSlice(starts, ends, steps, axes):
            for (k, a) in axes.enumerated() {
                let axis = a < 0 ? a + inShape.count : a
                tables[axis] = stridedRange(start: starts[k], end: ends[k], step: steps[k], length: inShape[axis])
            }
        case let .pad(pads, mode):
            let rank = inShape.count
            for a in 0..<rank {
                let n = inShape[a], begin = pads[a]
                tables[a] = (0..<outShape[a]).map { j in
                    let i = j - begin
                    if i >= 0 && i < n { return i }
                    switch mode {
                    case .constant: return -1
                    case .edge: return min(max(i, 0), n - 1)
                    case .wrap: return ((i % n) + n) % n
                    case .reflect:
                        guard n > 1 else { return 0 }
                        let period = 2 * (n - 1)
                        let r = ((i % period) + period) % period
                        return r < n ? r : period - r
                    }
                }
            }
        case .expand:
            for a in inShape.indices where inShape[a] == 1 { tables[a] = Array(repeating: 0, count: outShape[a]) }
        case .tile:
            for a in inShape.indices { tables[a] = tables[a].map { $0 % inShape[a] } }
        }
        return tables
    }

    static func run(_ map: AxisMap, _ x: UnsafeBufferPointer<Float>, shape: [Int], _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], fill: Float) {
        let rank = outShape.count
        let inShape = [Int](repeating: 1, count: rank - shape.count) + shape
        guard rank > 0 else { y[0] = x[0]; return }
        let tables = map.tables(inShape: inShape, outShape: outShape)
        let strides = contiguousStrides(inShape)
        // Source offsets along the innermost axis, then an odometer over the outer axes.
        let last = rank - 1
        let inner = tables[last].map { $0 < 0 ? -1 : $0 * strides[last] }
        var index = [Int](repeating: 0, count: rank)
        var o = 0
        while o < y.count {
            var base = 0
            var outside = false
            for a in 0..<last {
                let i = tables[a][index[a]]
                if i < 0 { outside = true; break }
                base += i * strides[a]
            }
            for j in 0..<inner.count {
                y[o + j] = outside || inner[j] < 0 ? fill : x[base + inner[j]]
            }
            o += inner.count
            var a = last - 1
            while a >= 0 {
                index[a] += 1
                if index[a] < outShape[a] { break }
                index[a] = 0
                a -= 1
            }
            if a < 0 { break }
        }
    }
}

enum MatMulKernel {
    /// numpy `matmul`: 1-D operands are promoted (and the added axis dropped), batch axes broadcast.
    static func run(_ a: HostTensor, _ b: HostTensor, _ y: UnsafeMutableBufferPointer<Float>, outShape: [Int], threads: Int) {
        let aShape = a.shape.count == 1 ? [1] + a.shape : a.shape
        let bShape = b.shape.count == 1 ? b.shape + [1] : b.shape
        let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1], n = bShape[bShape.count - 1]
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        let rank = max(aBatch.count, bBatch.count)
        let pa = [Int](repeating: 1, count: rank - aBatch.count) + aBatch
        let pb = [Int](repeating: 1, count: rank - bBatch.count) + bBatch
        let batch = zip(pa, pb).map { max($0, $1) }
        let aIndex = TensorKernels.broadcastIndex(pa, to: batch), bIndex = TensorKernels.broadcastIndex(pb, to: batch)
        let count = batch.reduce(1, *)
        BLAS.setThreads(threads)
        a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                for i in 0..<count {
                    let ai = aIndex?[i] ?? i, bi = bIndex?[i] ?? i
                    BLAS.gemm(m: m, n: n, k: k, a: ap.baseAddress! + ai * m * k, lda: k, b: bp.baseAddress! + bi * k * n, ldb: n,
                              c: y.baseAddress! + i * m * n, ldc: n)
                }
            }
        }
    }
}
