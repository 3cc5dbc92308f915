/// Attributes of a convolution (Keras Conv1D/Conv2D/Conv3D, ONNX Conv).
///
/// Inputs: `x`, `kernel`, optional `bias`. The kernel is stored as the source framework
/// keeps it (`kernelLayout`), so weights round-trip unchanged.
public struct Convolution: Hashable, Sendable, Codable {
    public enum KernelLayout: String, Hashable, Sendable, Codable {
        /// Keras: spatial…, in/groups, out (`HWIO`).
        case spatialInOut
        /// ONNX: out, in/groups, spatial… (`OIHW`).
        case outInSpatial
    }
    public var filters: Int
    public var kernelSize: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    public var padding: Padding
    public var layout: Layout
    public var groups: Int
    public var kernelLayout: KernelLayout

    public init(filters: Int, kernelSize: [Int], strides: [Int], dilations: [Int], padding: Padding,
                layout: Layout, groups: Int = 1, kernelLayout: KernelLayout = .spatialInOut) {
        self.filters = filters; self.kernelSize = kernelSize; self.strides = strides
        self.dilations = dilations; self.padding = padding; self.layout = layout
        self.groups = groups; self.kernelLayout = kernelLayout
    }
    public var spatialRank: Int { kernelSize.count }
}

/// Attributes of a depthwise convolution (Keras DepthwiseConv2D, the first half of
/// SeparableConv2D). Inputs: `x`, `kernel` (`kh, kw, channels, multiplier`), optional `bias`.
public struct DepthwiseConvolution: Hashable, Sendable, Codable {
    public var kernelSize: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    public var padding: Padding
    public var layout: Layout
    public var depthMultiplier: Int

    public init(kernelSize: [Int], strides: [Int], dilations: [Int], padding: Padding, layout: Layout, depthMultiplier: Int) {
        self.kernelSize = kernelSize; self.strides = strides; self.dilations = dilations
        self.padding = padding; self.layout = layout; self.depthMultiplier = depthMultiplier
    }
}

/// Attributes of max or average pooling.
public struct Pooling: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable { case max, average }
    public var kind: Kind
    public var poolSize: [Int]
    public var strides: [Int]
    public var padding: Padding
    public var layout: Layout
    /// ONNX AveragePool's `count_include_pad`; Keras never counts padding.
    public var countIncludePad: Bool
    /// ONNX's `ceil_mode`: a last, partial window counts.
    public var ceilMode: Bool
    /// ONNX's `dilations` (`nil`: 1 on every axis; Keras never dilates pooling).
    public var dilations: [Int]?

    public init(kind: Kind, poolSize: [Int], strides: [Int], padding: Padding, layout: Layout, countIncludePad: Bool = false, ceilMode: Bool = false,
                dilations: [Int]? = nil) {
        self.kind = kind; self.poolSize = poolSize; self.strides = strides
        self.padding = padding; self.layout = layout; self.countIncludePad = countIncludePad; self.ceilMode = ceilMode
        self.dilations = dilations
    }

    /// The dilation of spatial axis `i`.
    public func dilation(_ i: Int) -> Int { dilations.map { i < $0.count ? $0[i] : 1 } ?? 1 }
    /// True when every axis has dilation 1.
    public var isUndilated: Bool { (dilations ?? []).allSatisfy { $0 == 1 } }
}

/// Attributes of an ONNX-style Resize over every axis (batch included): the output size per
/// axis and the interpolation, as ONNX's Resize defines them.
public struct Resize: Hashable, Sendable, Codable {
    public enum Mode: String, Hashable, Sendable, Codable { case nearest, linear, cubic }
    public var mode: Mode
    /// ONNX `coordinate_transformation_mode`: half_pixel, half_pixel_symmetric,
    /// pytorch_half_pixel, align_corners, asymmetric, tf_crop_and_resize, tf_half_pixel_for_nn.
    public var coordinates: String
    /// ONNX `nearest_mode`: round_prefer_floor, round_prefer_ceil, floor, ceil.
    public var nearestMode: String
    public var cubicCoefficient: Float
    public var excludeOutside: Bool
    public var extrapolationValue: Float
    public var antialias: Bool
    /// The scale of every axis, used to map output coordinates to input ones (ONNX computes
    /// with float64 from the float32 `scales` input).
    public var scales: [Double]
    /// The output size of every axis; `nil` where it is `floor(input × scale)`.
    public var sizes: [Int?]
    /// When true, an axis with a size uses `size / input` as its scale (ONNX's `sizes` input).
    public var scalesFromSizes: Bool
    /// tf_crop_and_resize's region: starts of every axis, then ends (normalised).
    public var roi: [Float]?

    public init(mode: Mode, coordinates: String, nearestMode: String, cubicCoefficient: Float, excludeOutside: Bool,
                extrapolationValue: Float, antialias: Bool, scales: [Double], sizes: [Int?], scalesFromSizes: Bool, roi: [Float]?) {
        self.mode = mode; self.coordinates = coordinates; self.nearestMode = nearestMode; self.cubicCoefficient = cubicCoefficient
        self.excludeOutside = excludeOutside; self.extrapolationValue = extrapolationValue; self.antialias = antialias
        self.scales = scales; self.sizes = sizes; self.scalesFromSizes = scalesFromSizes; self.roi = roi
    }

    /// The scale of an axis of `input` elements.
    public func scale(axis: Int, input: Int) -> Double {
        if scalesFromSizes, let s = sizes[axis], input > 0 { return Double(s) / Double(input) }
        return scales[axis]
    }

    /// The output length of an axis of `input` elements (nil when unknown, or when a hostile
    /// scale would make it larger than any dimension, `Shape.largestDimension`).
    public func outputLength(axis: Int, input: Int?) -> Int? {
        if let s = sizes[axis] { return s }
        guard let input else { return nil }
        let length = (scales[axis] * Double(input)).rounded(.down)
        guard length.isFinite, length >= 0, length <= Double(Shape.largestDimension) else { return nil }
        return Int(length)
    }
}

/// Keras' image `Resizing` as TensorFlow computes it (`tf.image.resize`, half-pixel centres):
/// every interpolation Keras offers, optionally after a centred crop (`crop_to_aspect_ratio`) or
/// a constant pad (`pad_to_aspect_ratio`) to the target's aspect ratio.
public struct ImageResize: Hashable, Sendable, Codable {
    public enum Interpolation: String, Hashable, Sendable, Codable, CaseIterable {
        case bilinear, nearest, bicubic, area, lanczos3, lanczos5, gaussian, mitchellcubic
    }
    public enum AspectRatio: Hashable, Sendable, Codable {
        /// Stretch the whole image to the target size.
        case stretch
        /// Crop the largest centred window of the target's aspect ratio first.
        case crop
        /// Pad with `fill` to the target's aspect ratio first (Keras 3).
        case pad(fill: Float)
    }
    public var height: Int
    public var width: Int
    public var interpolation: Interpolation
    /// Widen the kernel when down-sampling (Keras 3's `antialias`).
    public var antialias: Bool
    public var aspectRatio: AspectRatio
    public var layout: Layout

    public init(height: Int, width: Int, interpolation: Interpolation, antialias: Bool = false,
                aspectRatio: AspectRatio = .stretch, layout: Layout = .channelsLast) {
        self.height = height; self.width = width; self.interpolation = interpolation
        self.antialias = antialias; self.aspectRatio = aspectRatio; self.layout = layout
    }
}

/// Keras' random image augmentation layers. They are the identity at inference, as in Keras;
/// kept as what they are so training can make them active and writers can write them back.
public struct Augmentation: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable {
        case flip = "RandomFlip", rotation = "RandomRotation", zoom = "RandomZoom"
        case translation = "RandomTranslation", contrast = "RandomContrast"
        case brightness = "RandomBrightness", crop = "RandomCrop"
    }
    public var kind: Kind
    /// The layer's ranges as Keras gives them (`factor`, or height then width factors), each as
    /// lower and upper bound.
    public var factors: [Float]
    public var seed: Int?

    public init(kind: Kind, factors: [Float], seed: Int?) {
        self.kind = kind; self.factors = factors; self.seed = seed
    }
}

/// How `Op.pad` fills the border.
public enum PadMode: String, Hashable, Sendable, Codable {
    case constant, reflect, edge, wrap
}

/// The operations of the graph IR. Each case carries its typed attributes; tensors a node
/// reads (data and weights alike) are its inputs, in the order each case documents. An
/// empty input name stands for an optional input that is absent.
public enum Op: Hashable, Sendable {
    /// `x · kernel + bias` over the last axis. Inputs: x, kernel `[in, units]`, bias?.
    case dense(units: Int)
    case convolution(Convolution)
    case depthwiseConvolution(DepthwiseConvolution)
    case pooling(Pooling)
    /// Mean or max over every spatial axis.
    case globalPooling(kind: Pooling.Kind, layout: Layout, keepDims: Bool)
    /// Inputs: x, gamma?, beta?, moving mean, moving variance. Inference uses the moving
    /// statistics; training (a later pass) uses the batch's and updates them with `momentum`.
    case batchNormalization(axis: Int, epsilon: Float, momentum: Float)
    case activation(Activation)
    /// Identity at inference: Dropout, SpatialDropout, GaussianNoise, GaussianDropout.
    case dropout(kind: String, rate: Float)
    /// Identity at inference: RandomFlip, RandomRotation, … (see `Augmentation`).
    case augmentation(Augmentation)
    /// Keras `Resizing` (and CenterCrop when it must resample).
    case imageResize(ImageResize)
    /// Collapses every axis after the batch; channels-first input is first made channels-last, as Keras does.
    case flatten(layout: Layout)
    /// Target shape after the batch axis; one entry may be -1.
    case reshape(targetShape: [Int])
    /// Target shape including the batch axis (ONNX reshapes that fold the batch into another
    /// axis); one entry may be -1, resolved at run time.
    case reshapeAll(targetShape: [Int])
    /// Full permutation, batch axis included.
    case transpose(permutation: [Int])
    /// `(begin, end)` zero pads per spatial axis.
    case zeroPadding(pads: [[Int]], layout: Layout)
    /// `(begin, end)` crops per spatial axis.
    case cropping(crops: [[Int]], layout: Layout)
    /// Elements `starts[i] ..< ends[i]` along `axes[i]` (unit steps; batch axis excluded).
    case slice(starts: [Int], ends: [Int], axes: [Int])
    case upSampling(size: [Int], interpolation: String, layout: Layout)
    /// `x * scale + offset`.
    case rescaling(scale: Float, offset: Float)
    case elementwise(ElementwiseFunction)
    case unary(UnaryFunction)
    case reduce(ReduceFunction, axes: [Int], keepDims: Bool)
    case concatenate(axis: Int)
    /// Passes its input through (an InputLayer called on a tensor, an inlined model boundary).
    case identity
    /// ONNX Slice on any axis: `starts`/`ends` as ONNX gives them (negative counts from the end,
    /// clamped to the axis at run time), any non-zero steps.
    case stridedSlice(starts: [Int], ends: [Int], steps: [Int], axes: [Int])
    /// Broadcasts the input against `shape` (ONNX Expand: numpy rules, the larger of each pair).
    /// A negative entry -k is k times the batch size: the first axis of the optional second input.
    case expand(shape: [Int])
    /// A 1-D integer vector built at run time: entry i is `offsets[i] + factors[i] × batch`, the
    /// batch size being the first axis of the input (the graph input it comes from).
    case batchShape(offsets: [Int], factors: [Int])
    /// Repeats the input `repeats[i]` times along each axis (ONNX Tile).
    case tile(repeats: [Int])
    /// Pads (negative: crops) every axis: `pads` holds the begins of every axis, then the ends.
    case pad(pads: [Int], mode: PadMode, value: Float)
    case resize(Resize)
    /// numpy `matmul` of two inputs, either of which may be a parameter (ONNX MatMul).
    case matMul
    /// ONNX MaxPool's `Indices` output over a channels-first input: for each window, the flat
    /// index of its (first) maximum in the whole input, row-major or (`columnMajor`) with the
    /// spatial axes in reverse order.
    case maxPoolIndices(Pooling, columnMajor: Bool)
    /// The index of the largest (or smallest) element along `axis` (ONNX ArgMax/ArgMin);
    /// `selectLast` picks the last of equal extremes.
    case argReduce(largest: Bool, axis: Int, keepDims: Bool, selectLast: Bool)
    /// An op of a family defined in one place (`OpFamily`, the files in Families/); the other
    /// cases move there family by family.
    case family(AnyOpFamily)

    /// The name a Keras user would recognise, used in printouts.
    public var displayName: String {
        switch self {
        case .dense: return "Dense"
        case .convolution(let c): return "Conv\(c.kernelSize.count)D"
        case .depthwiseConvolution(let c): return "DepthwiseConv\(c.kernelSize.count)D"
        case .pooling(let p): return (p.kind == .max ? "MaxPooling" : "AveragePooling") + "\(p.poolSize.count)D"
        case .globalPooling(let k, _, _): return k == .max ? "GlobalMaxPooling" : "GlobalAveragePooling"
        case .batchNormalization: return "BatchNormalization"
        case .activation(let a): return "Activation(\(a.kerasName))"
        case .dropout(let kind, _): return kind
        case .augmentation(let a): return a.kind.rawValue
        case .imageResize: return "Resizing"
        case .flatten: return "Flatten"
        case .reshape, .reshapeAll: return "Reshape"
        case .transpose: return "Transpose"
        case .zeroPadding: return "ZeroPadding"
        case .cropping: return "Cropping"
        case .slice: return "Slice"
        case .upSampling: return "UpSampling"
        case .rescaling: return "Rescaling"
        case .elementwise(let f): return f.rawValue.capitalized
        case .unary(let f): return f.rawValue.capitalized
        case .reduce(let f, _, _): return "Reduce" + f.rawValue.capitalized
        case .concatenate: return "Concatenate"
        case .identity: return "Identity"
        case .stridedSlice: return "Slice"
        case .expand: return "Expand"
        case .tile: return "Tile"
        case .batchShape: return "Shape"
        case .pad: return "Pad"
        case .resize: return "Resize"
        case .matMul: return "MatMul"
        case .maxPoolIndices: return "MaxPoolIndices"
        case .argReduce(let largest, _, _, _): return largest ? "ArgMax" : "ArgMin"
        case .family(let f): return f.base.displayName
        }
    }

    /// What the op is beyond its arithmetic (see `OpTraits`).
    public var traits: OpTraits {
        switch self {
        case .identity, .dropout, .augmentation: return [.passThroughAtInference, .keepsSamplesApart, .keepsValueScale, .copiesValues]
        case .flatten, .reshape: return [.onlyReshapes, .keepsSamplesApart, .keepsValueScale, .copiesValues]
        case .reshapeAll: return [.onlyReshapes, .keepsValueScale, .copiesValues]
        case .dense: return [.linearLayer, .multipliesByKernel, .keepsSamplesApart]
        case .matMul: return [.linearLayer, .multipliesByKernel]
        case .convolution, .depthwiseConvolution: return [.multipliesByKernel, .keepsSamplesApart, .readsChannelAxis]
        case .pooling: return [.keepsSamplesApart, .readsChannelAxis]
        case .batchNormalization(let axis, _, _): return axis != 0 ? [.keepsSamplesApart, .readsChannelAxis] : [.readsChannelAxis]
        case .zeroPadding, .cropping: return [.keepsSamplesApart, .readsChannelAxis, .keepsValueScale, .copiesValues]
        case .upSampling, .imageResize: return [.keepsSamplesApart, .readsChannelAxis, .keepsValueScale]
        case .slice: return [.keepsSamplesApart, .keepsValueScale, .copiesValues]
        case .stridedSlice, .pad, .tile, .expand: return [.keepsValueScale, .copiesValues]
        case .resize: return [.keepsValueScale]
        case .transpose(let permutation):
            return permutation.first == 0 ? [.keepsSamplesApart, .keepsValueScale, .copiesValues] : [.keepsValueScale, .copiesValues]
        case .elementwise(.select), .elementwise(.maximum), .elementwise(.minimum): return [.keepsSamplesApart, .copiesValues]
        case .globalPooling, .rescaling, .elementwise, .unary: return [.keepsSamplesApart]
        case .reduce(_, let axes, _): return axes.contains(0) ? [] : [.keepsSamplesApart]
        case .concatenate(let axis): return axis != 0 ? [.keepsSamplesApart, .copiesValues] : [.copiesValues]
        case .activation(let a):
            switch a {
            case .softmax(let axis), .logSoftmax(let axis): return axis != 0 ? [.keepsSamplesApart] : []
            case .linear, .relu, .leakyRelu, .elu, .selu, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .softplus, .softsign, .swish,
                 .gelu, .exponential, .clip:
                return [.keepsSamplesApart]
            }
        case .batchShape, .maxPoolIndices, .argReduce: return []
        case .family(let f): return f.base.traits
        }
    }
}
