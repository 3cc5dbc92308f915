/// ONNX Einsum: products of the operands' elements summed over every letter the output leaves
/// out, as numpy's `einsum` with one equation (`bhid,bhjd->bhij`, `ij->ji`, `bi,bi->b`, `ii->i`).
/// A letter names one axis size; `...` stands for broadcast axes. Without `->` the output is
/// every letter used once, alphabetically. Inputs: the operands.
public struct Einsum: OpFamily {
    public var equation: String
    /// Each operand's letters, `.` standing for one ellipsis axis once their ranks are known.
    public let operands: [[Character]]
    public let output: [Character]

    public init(equation: String) throws {
        self.equation = equation
        let text = equation.filter { !$0.isWhitespace }
        let sides = text.components(separatedBy: "->")
        guard sides.count <= 2, let left = sides.first else { throw ShapeError("Einsum equation '\(equation)' has more than one '->'") }
        let terms = left.split(separator: ",", omittingEmptySubsequences: false).map { Array($0.replacingOccurrences(of: "...", with: ".")) }
        for term in terms {
            guard term.allSatisfy({ $0 == "." || ($0.isASCII && $0.isLetter) }), term.filter({ $0 == "." }).count <= 1 else {
                throw ShapeError("Einsum equation '\(equation)': '\(String(term))' is not letters with at most one '...'")
            }
        }
        operands = terms
        if sides.count == 2 {
            let out = Array(sides[1].replacingOccurrences(of: "...", with: "."))
            guard out.allSatisfy({ $0 == "." || ($0.isASCII && $0.isLetter) }), Set(out).count == out.count else {
                throw ShapeError("Einsum equation '\(equation)': the output '\(sides[1])' repeats a letter or is not letters")
            }
            let used = Set(terms.joined())
            guard out.allSatisfy({ used.contains($0) }) else {
                throw ShapeError("Einsum equation '\(equation)': the output names a letter no operand has")
            }
            output = out
        } else {
            var counts: [Character: Int] = [:]
            for c in terms.joined() where c != "." { counts[c, default: 0] += 1 }
            output = (terms.joined().contains(".") ? ["."] : []) + counts.filter { $0.value == 1 }.keys.sorted()
        }
    }

    public static func == (a: Einsum, b: Einsum) -> Bool { a.equation == b.equation }
    public func hash(into hasher: inout Hasher) { hasher.combine(equation) }

    public var displayName: String { "Einsum" }
    public var traits: OpTraits { [] }

    public func validateAttributes() throws {}

    /// The letters of each operand and of the output with the ellipsis spelled out for operands of
    /// `ranks`, and the size of every letter (ellipsis axes broadcast numpy's way); nil sizes where unknown.
    public func layout(_ shapes: [Shape]) throws -> (operands: [[String]], output: [String], sizes: [String: Int?]) {
        guard shapes.count == operands.count else {
            throw ShapeError("Einsum equation '\(equation)' has \(operands.count) operands, the node \(shapes.count) inputs")
        }
        let ellipsisRank = try zip(operands, shapes).map { term, s -> Int in
            let letters = term.filter { $0 != "." }.count
            guard s.rank == letters || (term.contains(".") && s.rank > letters) else {
                throw ShapeError("Einsum operand '\(String(term))' does not fit the input \(s)")
            }
            return s.rank - letters
        }.max() ?? 0
        let dots = (0..<ellipsisRank).map { "...\($0)" }
        func spelled(_ term: [Character], rank: Int) -> [String] {
            let own = rank - term.filter { $0 != "." }.count
            return term.flatMap { $0 == "." ? Array(dots.suffix(own)) : [String($0)] }
        }
        let terms = zip(operands, shapes).map { spelled($0, rank: $1.rank) }
        var sizes: [String: Int?] = [:]
        for (term, s) in zip(terms, shapes) {
            for (letter, d) in zip(term, s.dims) {
                let known = sizes[letter] ?? nil
                if d == 1 { if sizes[letter] == nil { sizes[letter] = 1 }; continue }
                // Sizes of 1 broadcast, as in numpy.
                if let known, known != 1, let d, d != 1, d != known {
                    throw ShapeError("Einsum equation '\(equation)': '\(letter)' is \(known) in one operand and \(d) in another")
                }
                if known == nil || known == 1 { sizes[letter] = d }
            }
        }
        return (terms, output.flatMap { $0 == "." ? dots : [String($0)] }, sizes)
    }

    public func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        let shapes = try inputs.map { s -> Shape in guard let s else { throw ShapeError("an Einsum operand is missing") }; return s }
        let (_, out, sizes) = try layout(shapes)
        return [Shape(out.map { sizes[$0] ?? nil })]
    }

    public func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int? { nil }
}
