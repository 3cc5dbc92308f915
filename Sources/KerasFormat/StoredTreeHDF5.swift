import HDF5
import ModelIR

extension StoredGroup {
    /// Snapshots an HDF5 group: every attribute, and every dataset either as the graph
    /// parameter it was loaded into (`parameters`, keyed by the dataset's absolute path) or,
    /// for anything else (optimizer slots, counters), as its value.
    init(hdf5 g: HDF5Group, parameters: [String: String]) throws {
        self.init()
        for name in try g.attributeNames() {
            guard let value = try g.attribute(name) else { continue }
            attributes.append(StoredAttribute(name: name, value: StoredAttributeValue(value)))
        }
        for name in try g.memberNames() {
            switch g.kind(of: name) {
            case .group:
                members.append(.group(name, try StoredGroup(hdf5: try g.group(name), parameters: parameters)))
            case .dataset:
                let path = g.path == "/" ? "/" + name : g.path + "/" + name
                if let parameter = parameters[path] {
                    members.append(.parameter(name, parameter: parameter))
                } else {
                    members.append(.tensor(name, try Tensor(try g.readDataset(name, limit: Sizes.budget))))
                }
            case .other, nil:
                continue
            }
        }
    }

    /// Writes the tree into `g`, with each parameter's current value from `graph`.
    func write(into g: HDF5Group, graph: Graph) throws {
        for attribute in attributes {
            try g.setAttribute(attribute.name, attribute.value.hdf5, strings: attribute.fixedLength ? .fixedLength : .variableLength)
        }
        for member in members {
            switch member {
            case .group(let name, let child):
                try child.write(into: try g.createGroup(name), graph: graph)
            case .parameter(let name, let parameter):
                guard let p = graph.parameter(named: parameter) else {
                    throw KerasWriteError.missingParameter(parameter)
                }
                try g.writeDataset(name, try HDF5Array(p.tensor))
            case .tensor(let name, let tensor):
                try g.writeDataset(name, try HDF5Array(tensor))
            }
        }
    }
}

extension StoredAttributeValue {
    init(_ v: HDF5AttributeValue) {
        switch v {
        case .string(let s): self = .string(s)
        case .strings(let a): self = .strings(a)
        case .int(let i): self = .int(i)
        case .ints(let a): self = .ints(a)
        case .double(let d): self = .double(d)
        case .doubles(let a): self = .doubles(a)
        }
    }

    var hdf5: HDF5AttributeValue {
        switch self {
        case .string(let s): return .string(s)
        case .strings(let a): return .strings(a)
        case .int(let i): return .int(i)
        case .ints(let a): return .ints(a)
        case .double(let d): return .double(d)
        case .doubles(let a): return .doubles(a)
        }
    }
}

extension HDF5Array {
    init(_ t: Tensor) throws {
        guard let type = HDF5ElementType(rawValue: t.dtype.rawValue) else {
            throw KerasWriteError.unsupportedElementType(t.dtype.rawValue)
        }
        self.init(elementType: type, shape: t.shape, bytes: t.bytes)
    }
}
