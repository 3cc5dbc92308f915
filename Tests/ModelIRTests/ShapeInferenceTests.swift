import ModelIR
import Testing

/// Output-length rules, with expected values from Keras/TensorFlow (`conv_output_length`,
/// `deconv_output_length`, TF 'same' padding).
@Suite("shape inference")
struct ShapeInferenceTests {
    func conv(_ padding: Padding, stride: Int = 1, dilation: Int = 1, kernel: Int = 3, filters: Int = 8) -> Op {
        .convolution(Convolution(filters: filters, kernelSize: [kernel, kernel], strides: [stride, stride], dilations: [dilation, dilation],
                                 padding: padding, layout: .channelsLast))
    }

    @Test func convSameAndValid() throws {
        let x: Shape = [nil, 128, 156, 1]
        #expect(try conv(.sameUpper).outputShapes([x, [3, 3, 1, 8], [8]]) == [[nil, 128, 156, 8]])
        #expect(try conv(.valid).outputShapes([x, [3, 3, 1, 8], [8]]) == [[nil, 126, 154, 8]])
        #expect(try conv(.sameUpper, stride: 2).outputShapes([[nil, 35, 35, 3], [3, 3, 3, 8], nil]) == [[nil, 18, 18, 8]])
        #expect(try conv(.valid, stride: 2).outputShapes([[nil, 35, 35, 3], [3, 3, 3, 8], nil]) == [[nil, 17, 17, 8]])
        #expect(try conv(.valid, dilation: 2).outputShapes([[nil, 17, 17, 3], [3, 3, 3, 8], nil]) == [[nil, 13, 13, 8]])
    }

    @Test func convKernelThatDoesNotFitIsAShapeError() {
        #expect(throws: ShapeError.self) { try conv(.valid).outputShapes([[nil, 10, 10, 4], [3, 3, 3, 8], [8]]) }
        #expect(throws: ShapeError.self) { try conv(.valid).outputShapes([[nil, 10, 10], [3, 3, 3, 8], [8]]) }
    }

    @Test func samePaddingPutsTheExtraPixelAtTheEnd() {
        #expect(Padding.sameUpper.pads(axis: 0, spatialRank: 2, input: 62, window: 3, stride: 2) == (0, 1))
        #expect(Padding.sameLower.pads(axis: 0, spatialRank: 2, input: 62, window: 3, stride: 2) == (1, 0))
        #expect(Padding.sameUpper.pads(axis: 0, spatialRank: 2, input: 5, window: 3, stride: 1) == (1, 1))
    }

    @Test func transposedConvolutionFollowsKeras() throws {
        let op = Op(TransposedConvolution(filters: 8, kernelSize: [3, 3], strides: [2, 2], dilations: [1, 1],
                                                               padding: .sameUpper, outputPadding: nil, layout: .channelsLast))
        #expect(try op.outputShapes([[nil, 17, 17, 16], [3, 3, 8, 16], [8]]) == [[nil, 34, 34, 8]])
        let valid = Op(TransposedConvolution(filters: 8, kernelSize: [3, 3], strides: [2, 2], dilations: [1, 1],
                                                                  padding: .valid, outputPadding: nil, layout: .channelsLast))
        #expect(try valid.outputShapes([[nil, 17, 17, 16], nil, nil]) == [[nil, 35, 35, 8]])
    }

    @Test func poolingFloorsValidAndCeilsSame() throws {
        let valid = Op.pooling(Pooling(kind: .max, poolSize: [2, 2], strides: [2, 2], padding: .valid, layout: .channelsLast))
        #expect(try valid.outputShapes([[nil, 32, 39, 64]]) == [[nil, 16, 19, 64]])
        let same = Op.pooling(Pooling(kind: .max, poolSize: [3, 3], strides: [2, 2], padding: .sameUpper, layout: .channelsLast))
        #expect(try same.outputShapes([[nil, 62, 62, 8]]) == [[nil, 31, 31, 8]])
        let nchw = Op.pooling(Pooling(kind: .average, poolSize: [2, 2], strides: [2, 2], padding: .valid, layout: .channelsFirst))
        #expect(try nchw.outputShapes([[nil, 4, 14, 14]]) == [[nil, 4, 7, 7]])
    }

    @Test func flattenReshapeTranspose() throws {
        #expect(try Op.flatten(layout: .channelsLast).outputShapes([[nil, 16, 19, 128]]) == [[nil, 38912]])
        #expect(try Op.reshape(targetShape: [-1, 4]).outputShapes([[nil, 6, 2]]) == [[nil, 3, 4]])
        #expect(throws: ShapeError.self) { try Op.reshape(targetShape: [5]).outputShapes([[nil, 6, 2]]) }
        #expect(try Op.transpose(permutation: [0, 2, 1]).outputShapes([[nil, 3, 7]]) == [[nil, 7, 3]])
    }

    @Test func broadcastingAndConcatenation() throws {
        #expect(try Op.elementwise(.add).outputShapes([[nil, 4, 1], [3]]) == [[nil, 4, 3]])
        #expect(throws: ShapeError.self) { try Op.elementwise(.add).outputShapes([[nil, 4], [3]]) }
        #expect(try Op.concatenate(axis: -1).outputShapes([[nil, 15, 15, 8], [nil, 15, 15, 16]]) == [[nil, 15, 15, 24]])
        #expect(throws: ShapeError.self) { try Op.concatenate(axis: -1).outputShapes([[nil, 15, 15, 8], [nil, 14, 15, 16]]) }
    }

    @Test func globalPoolingAndDense() throws {
        #expect(try Op.globalPooling(kind: .average, layout: .channelsLast, keepDims: true).outputShapes([[nil, 3, 3, 1280]]) == [[nil, 1, 1, 1280]])
        #expect(try Op.globalPooling(kind: .max, layout: .channelsLast, keepDims: false).outputShapes([[nil, 5, 8]]) == [[nil, 8]])
        #expect(try Op.dense(units: 2).outputShapes([[nil, 38912], [38912, 2], [2]]) == [[nil, 2]])
        #expect(throws: ShapeError.self) { try Op.dense(units: 2).outputShapes([[nil, 10], [38912, 2], [2]]) }
    }
}

@Suite("graph verifier")
struct VerifierTests {
    func smallGraph() -> Graph {
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 4])]
        g.parameters = [Parameter(name: "w", tensor: Tensor(shape: [4, 2], floats: Array(repeating: 0.5, count: 8)), trainable: true)]
        g.nodes = [
            Node(name: "dense", op: .dense(units: 2), inputs: ["x", "w", ""], outputs: ["dense"]),
            Node(name: "act", op: .activation(.sigmoid), inputs: ["dense"], outputs: ["act"]),
        ]
        g.outputs = ["act"]
        return g
    }

    @Test func validGraphVerifiesWithShapes() throws {
        let shapes = try smallGraph().verify()
        #expect(shapes["act"] == [nil, 2])
        #expect(smallGraph().printed().contains("Dense(%x, @w, _) -> (None, 2)"))
    }

    @Test func danglingInput() {
        var g = smallGraph()
        g.nodes[1].inputs = ["nowhere"]
        #expect(throws: GraphError.danglingInput(node: "act", input: "nowhere")) { try g.verify() }
    }

    @Test func cycleIsFoundWhenSorting() {
        var g = smallGraph()
        g.nodes[0].inputs[0] = "act"
        #expect(throws: GraphError.self) { try g.sortTopologically() }
        #expect(throws: GraphError.self) { try g.verify() }
    }

    @Test func outOfOrderNodesAreSorted() throws {
        var g = smallGraph()
        g.nodes.reverse()
        try g.sortTopologically()
        #expect(g.nodes.map(\.name) == ["dense", "act"])
    }

    @Test func shapeConflictNamesTheLayer() {
        var g = smallGraph()
        g.parameters[0].tensor = Tensor(shape: [3, 2], floats: Array(repeating: 0, count: 6))
        g.nodes[0].layer = "classifier"
        #expect(throws: GraphError.self) { try g.verify() }
        do { try g.verify() } catch { #expect(String(describing: error).hasPrefix("layer 'classifier'")) }
    }

    @Test func duplicateOutputs() {
        var g = smallGraph()
        g.nodes[1].outputs = ["dense"]
        #expect(throws: GraphError.duplicateValue("dense")) { try g.verify() }
    }
}

@Suite("JSON reading")
struct JSONValueTests {
    @Test func parsesWhatKerasWrites() throws {
        let v = try JSONValue(parsing: #"{"a": [1, 2.5, -3e2, true, false, null], "s": "é\n\u00e9\ud83d\ude00", "n": NaN, "i": -Infinity}"#)
        #expect(v["a"]?[0]?.int == 1)
        #expect(v["a"]?[1]?.double == 2.5)
        #expect(v["a"]?[2]?.double == -300)
        #expect(v["a"]?[3]?.bool == true)
        #expect(v["a"]?[5]?.isNull == true)
        #expect(v["s"]?.string == "é\né😀")
        #expect(v["n"]?.double?.isNaN == true)
        #expect(v["i"]?.double == -.infinity)
    }

    @Test func rejectsBrokenJSON() {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: "{\"a\": [1, 2}") }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: "{\"a\": 1} trailing") }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: "") }
    }

    @Test func roundTripsThroughDescription() throws {
        let v = try JSONValue(parsing: #"{"b": [1, {"c": "x\"y"}], "a": 0.5}"#)
        #expect(try JSONValue(parsing: v.description) == v)
        #expect(try JSONValue(parsing: v.pretty()) == v)
    }
}
