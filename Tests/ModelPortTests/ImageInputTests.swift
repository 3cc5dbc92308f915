import DataIO
import Foundation
import ModelIR
import ModelPort
import Testing

/// Images decoded, resized and scaled as TensorFlow does (Fixtures/make_image_fixtures.py).
@Suite("image inputs")
struct ImageInputTests {
    static let files = ["cat/a.png", "cat/b.png", "cat/c.jpg", "cat/d.jpg", "dog/a.png", "dog/b.png", "dog/c.jpg", "dog/d.jpg"]

    @Test("decoded, resized to 128×156 and scaled like tf.io.decode_image + tf.image.resize", arguments: files)
    func matchesTensorFlow(_ file: String) throws {
        let model = try Model.load(Fixtures.keras("seed_sigmoid.h5"))
        let reference = try NumpyArchive.read(Fixtures.root.appendingPathComponent("images/reference.npz").path)
        let expected = try #require(reference.first { $0.name == file }?.tensor)
        let x = try model.imageInputs([Fixtures.root.appendingPathComponent("images/\(file)").path])["image"]
        let ours = try #require(x)
        #expect(ours.shape == [1, 128, 156, 1])
        let maxError = zip(ours.data, expected.floats()).map { abs($0 - $1) }.max() ?? 0
        // One grey level is 1/255 ≈ 0.0039.
        #expect(maxError <= 1.5 / 255, "max error \(maxError * 255) grey levels")
    }

    @Test func folderListingIsSortedAndRecursive() throws {
        let listed = try ImageFile.list(folder: Fixtures.root.appendingPathComponent("images").path)
        #expect(listed.map { String($0.split(separator: "/").suffix(2).joined(separator: "/")) } == Self.files)
    }

    @Test func brokenImageIsAnError() throws {
        let path = Fixtures.root.appendingPathComponent("bad/broken.png").path
        #expect(throws: DataIOError.self) { try ImageFile.decode(path, channels: 1) }
    }

    /// A graph reading an image input through `first` (ops that keep axes in place) into a
    /// 1×1 convolution of `layout`, from `format`.
    static func convolutionGraph(input: [Int?], layout: Layout, format: SourceFormat, first: String) -> Graph {
        var g = Graph()
        g.metadata.format = format
        g.inputs = [ValueInfo(name: "x", shape: Shape(input))]
        // tf2onnx and ModelPort's export take NHWC and transpose it for a channels-first Conv.
        let transposed = first == "transpose"
        let channels = layout == .channelsFirst && !transposed ? input[1]! : input[3]!
        var last = "x"
        if transposed {
            g.nodes.append(Node(name: "to_nchw", op: .transpose(permutation: [0, 3, 1, 2]), inputs: [last], outputs: ["nchw"]))
            last = "nchw"
        }
        if first == "cast" {
            g.nodes.append(Node(name: "cast", op: Op(Cast(to: .float32)), inputs: [last], outputs: ["cast"]))
            last = "cast"
        }
        if first == "sub" {
            // torchvision's normalisation, per channel, before the first convolution.
            let mean = layout == .channelsFirst ? [1, channels, 1, 1] : [channels]
            g.parameters.append(Parameter(name: "mean", tensor: Tensor(shape: mean, floats: Array(repeating: 0.5, count: channels)), trainable: false))
            g.nodes.append(Node(name: "sub", op: .elementwise(.subtract), inputs: [last, "mean"], outputs: ["centered"]))
            g.nodes.append(Node(name: "act", op: .activation(.linear), inputs: ["centered"], outputs: ["scaled"]))
            last = "scaled"
        }
        let kernel = layout == .channelsFirst ? [2, channels, 1, 1] : [1, 1, channels, 2]
        g.parameters.append(Parameter(name: "k", tensor: Tensor(shape: kernel, floats: Array(repeating: 1, count: 2 * channels)), trainable: true))
        let conv = Convolution(filters: 2, kernelSize: [1, 1], strides: [1, 1], dilations: [1, 1], padding: .valid, layout: layout,
                               kernelLayout: layout == .channelsFirst ? .outInSpatial : .spatialInOut)
        g.nodes.append(Node(name: "conv", op: .convolution(conv), inputs: [last, "k"], outputs: ["y"]))
        g.outputs = ["y"]
        return g
    }

    @Test("the channel axis of an image input comes from the IR, not from which dimension is 1 or 3", arguments: [
        ([nil, 3, 8, 3], Layout.channelsFirst, SourceFormat.onnx, ""),      // width 3 looked like RGB channels last
        ([nil, 3, 8, 3], .channelsFirst, .onnx, "sub"),                     // through a Sub before the Conv
        ([nil, 1, 6, 3], .channelsLast, .kerasH5, ""),                      // height 1 looked like gray channels first
        ([nil, 3, 5, 1], .channelsLast, .kerasH5, "sub"),
        ([nil, 3, 8, 3], .channelsFirst, .onnx, "cast"),                    // a uint8 input cast to float first
        ([nil, 1, 8, 3], .channelsFirst, .onnx, "transpose"),               // NHWC into a Transpose (tf2onnx): channels last
    ] as [([Int?], Layout, SourceFormat, String)])
    func channelAxisFromTheIR(_ input: [Int?], _ layout: Layout, _ format: SourceFormat, _ first: String) throws {
        let model = Model(graph: Self.convolutionGraph(input: input, layout: layout, format: format, first: first), path: "m")
        let file = Fixtures.root.appendingPathComponent("images/cat/a.png").path
        let x = try #require(try model.imageInputs([file])["x"])
        #expect(x.shape == [1] + input.dropFirst().map { $0! })
        // The same pixels as decoding channels last at that size and moving the channels.
        let planar = layout == .channelsFirst && first != "transpose"
        let channels = planar ? input[1]! : input[3]!
        let (h, w) = planar ? (input[2]!, input[3]!) : (input[1]!, input[2]!)
        let pixels = try ImageFile.decode(file, channels: channels).resized(width: w, height: h).map { $0 / 255 }
        if planar {
            for c in 0..<channels { for p in 0..<(h * w) { #expect(x.data[c * h * w + p] == pixels[p * channels + c]) } }
        } else {
            #expect(x.data == pixels)
        }
    }
}
