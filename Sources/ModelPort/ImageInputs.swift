import DataIO
import Engine
import Foundation
import ModelIR

extension Model {
    /// True when the model scales its input with a Rescaling layer before anything else computes
    /// on it: it then takes raw 0–255 pixels, as Keras' `image_dataset_from_directory` yields them.
    /// Ops that keep the values as they are at inference (augmentation, Resizing, CenterCrop,
    /// padding, an InputLayer call) are looked through, as the keras.io transfer-learning models
    /// put them first.
    public var expectsRawPixels: Bool {
        guard let input = graph.inputs.first else { return false }
        var value = input.name
        while let node = graph.nodes.first(where: { $0.inputs.first == value }) {
            if case .rescaling = node.op { return true }
            guard node.op.traits.contains(.keepsValueScale), let out = node.outputs.first else { return false }
            value = out
        }
        return false
    }

    /// Decodes images into the model's one image input: resized (bilinear) to its height and
    /// width, gray or RGB by its channel count, scaled to [0, 1] unless `expectsRawPixels`.
    public func imageInputs(_ paths: [String]) throws -> [String: HostTensor] {
        guard graph.inputs.count == 1, let input = graph.inputs.first, input.shape.rank == 4 else {
            throw ModelPortError("\(path): images need a model with one image input (rank 4), this one has \(graph.inputs.map { "\($0.name) \($0.shape)" }.joined(separator: ", "))")
        }
        let dims = input.shape.dims
        let channelsFirst = try inputIsChannelsFirst(input)
        guard let channels = channelsFirst ? dims[1] : dims[3] else {
            throw ModelPortError("\(path): the input '\(input.name)' \(input.shape) has no known channel count")
        }
        let raw = expectsRawPixels
        var data: [Float] = []
        var size: (Int, Int)?
        for file in paths {
            let image: DecodedImage
            do { image = try ImageFile.decode(file, channels: channels) } catch let e as DataIOError { throw ModelPortError(e.description) }
            let h = (channelsFirst ? dims[2] : dims[1]) ?? size?.0 ?? image.height
            let w = (channelsFirst ? dims[3] : dims[2]) ?? size?.1 ?? image.width
            size = (h, w)
            var pixels = image.resized(width: w, height: h)
            if !raw { for i in pixels.indices { pixels[i] /= 255 } }
            if channelsFirst {
                var planar = [Float](repeating: 0, count: pixels.count)
                for p in 0..<(h * w) { for c in 0..<channels { planar[c * h * w + p] = pixels[p * channels + c] } }
                pixels = planar
            }
            data += pixels
        }
        guard let (h, w) = size else { throw ModelPortError("\(path): no images given") }
        let shape = channelsFirst ? [paths.count, channels, h, w] : [paths.count, h, w, channels]
        return [input.name: HostTensor(shape: shape, data: data)]
    }

    /// Whether the image input stores channels first, as the IR reads it: the channel axis its
    /// first convolution, pooling or BatchNormalization takes it with (through scaling and
    /// augmentation before them). A graph that does not say (a Dense on flattened pixels) is
    /// read in its source's convention: channels last for Keras and what Keras converters wrote
    /// (tf2onnx, keras2onnx, ModelPort), channels first for other ONNX files (PyTorch's).
    func inputIsChannelsFirst(_ input: ValueInfo) throws -> Bool {
        let shapes: [String: Shape]
        do { shapes = try graph.verify() } catch { throw ModelPortError("\(path): \(error)") }
        switch graph.channelAxes(shapes: shapes)[input.name] {
        case 1: return true
        case 3: return false
        case .some(let other): throw ModelPortError("\(path): the input '\(input.name)' \(input.shape) has its channels on axis \(other), not an image's")
        case nil:
            // The ONNX loader writes "IR 8, opset 17, tf2onnx 1.17.0".
            let producer = graph.metadata.frameworkVersion?.lowercased() ?? ""
            let fromKeras = ["tf2onnx", "keras2onnx", "modelport"].contains { producer.contains(", \($0)") }
            return graph.metadata.format == .onnx && !fromKeras
        }
    }
}
