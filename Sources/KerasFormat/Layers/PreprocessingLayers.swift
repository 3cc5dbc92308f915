import ModelIR

/// Keras' image preprocessing and augmentation layers, which its transfer-learning guide puts
/// at the front of a model. At inference the random ones are the identity, as in Keras;
/// Resizing and CenterCrop compute what `tf.image.resize` computes.
func registerPreprocessingLayers(_ r: inout [String: KerasLayerConverter]) {
    let augmentations: [Augmentation.Kind: [String]] = [
        .flip: [], .rotation: ["factor"], .zoom: ["height_factor", "width_factor"],
        .translation: ["height_factor", "width_factor"], .contrast: ["factor"], .brightness: ["factor"],
    ]
    for (kind, keys) in augmentations {
        r[kind.rawValue] = { b, call in
            let op = Op.augmentation(Augmentation(kind: kind, factors: try factorRanges(call, keys), seed: call.config.json["seed"]?.int))
            return [try b.add(op, [try call.x], call: call)]
        }
    }
    r["RandomCrop"] = { b, call in
        let x = try call.x
        let height = try call.config.int("height"), width = try call.config.int("width")
        let seed = call.config.json["seed"]?.int
        let (h, w) = try imageSize(b.shape(x), call: call)
        // At inference tf_keras resizes a differently sized input to the target (smart_resize);
        // Keras 3.15 returns the input unchanged (keras-team/keras#21868). Both are kept.
        if b.flavour == .keras2, h != height || w != width {
            let resize = ImageResize(height: height, width: width, interpolation: .bilinear, aspectRatio: .crop,
                                     layout: try call.config.layout)
            return [try b.add(.imageResize(resize), [x], call: call)]
        }
        let op = Op.augmentation(Augmentation(kind: .crop, factors: [Float(height), Float(width)], seed: seed))
        return [try b.add(op, [x], call: call)]
    }
    r["Resizing"] = { b, call in
        let x = try call.x
        let name = try call.config.string("interpolation", default: "bilinear")
        guard let interpolation = ImageResize.Interpolation(rawValue: name) else {
            throw call.config.fail("unknown interpolation '\(name)'")
        }
        var aspect = ImageResize.AspectRatio.stretch
        if try call.config.bool("crop_to_aspect_ratio", default: false) { aspect = .crop }
        if try call.config.bool("pad_to_aspect_ratio", default: false) {
            aspect = .pad(fill: try call.config.float("fill_value", default: 0))
        }
        _ = try imageSize(b.shape(x), call: call)
        let resize = ImageResize(height: try call.config.int("height"), width: try call.config.int("width"),
                                 interpolation: interpolation, antialias: try call.config.bool("antialias", default: false),
                                 aspectRatio: aspect, layout: try call.config.layout)
        return [try b.add(.imageResize(resize), [x], call: call)]
    }
    r["CenterCrop"] = { b, call in
        let x = try call.x
        let height = try call.config.int("height"), width = try call.config.int("width")
        let layout = try call.config.layout
        let (h, w) = try imageSize(b.shape(x), call: call)
        // A crop when the image is at least the target size, else smart_resize (bilinear).
        if h >= height, w >= width {
            let top = (h - height) / 2, left = (w - width) / 2
            let crops = [[top, h - height - top], [left, w - width - left]]
            return [try b.add(.cropping(crops: crops, layout: layout), [x], call: call)]
        }
        let resize = ImageResize(height: height, width: width, interpolation: .bilinear, aspectRatio: .crop, layout: layout)
        return [try b.add(.imageResize(resize), [x], call: call)]
    }
}

/// The known height and width of an image batch, which Keras' resizing layers need here.
private func imageSize(_ s: Shape, call: LayerCall) throws -> (Int, Int) {
    let layout = try call.config.layout
    guard s.rank == 4 else { throw call.config.fail("expects an image batch (rank 4), got \(s)") }
    let axes = layout.spatialAxes(rank: 4)
    guard let h = s[axes[0]], let w = s[axes[1]] else {
        throw call.config.fail("needs a known image size, the input is \(s)")
    }
    return (h, w)
}

/// A layer's factor options as (lower, upper) pairs: `0.2` means (-0.2, 0.2), a list is kept.
private func factorRanges(_ call: LayerCall, _ keys: [String]) throws -> [Float] {
    try keys.flatMap { key -> [Float] in
        guard let v = call.config.json[key], !v.isNull else { return [] }
        if let d = v.double { return [Float(-abs(d)), Float(abs(d))] }
        if let a = v.array?.compactMap(\.double), a.count == 2 { return a.map(Float.init) }
        throw call.config.fail("'\(key)' should be a number or two numbers")
    }
}
