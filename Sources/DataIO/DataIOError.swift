/// Why a data file (`.npy`, `.npz`, an image, a folder) cannot be read or written.
public struct DataIOError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var problem: String
    public init(_ file: String, _ problem: String) {
        self.file = file
        self.problem = problem
    }
    public var description: String { "\(file): \(problem)" }
}
