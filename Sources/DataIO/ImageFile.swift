import CImageCodecs
import Foundation

/// An 8-bit image decoded from PNG or JPEG: `height × width × channels`, row-major.
public struct DecodedImage: Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]
}

/// PNG (libpng's simplified API) and JPEG (TurboJPEG) decoding, told apart by content.
public enum ImageFile {
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    public static func isImage(_ path: String) -> Bool {
        extensions.contains(URL(fileURLWithPath: path).pathExtension.lowercased())
    }

    /// Decodes to gray (`channels` 1) or RGB (3).
    public static func decode(_ path: String, channels: Int) throws -> DecodedImage {
        guard channels == 1 || channels == 3 else {
            throw DataIOError(path, "images can feed models with 1 or 3 input channels, this model has \(channels)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataIOError(path, FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        let bytes = [UInt8](data)
        let isPNG = bytes.starts(with: [0x89, 0x50, 0x4E, 0x47])
        let isJPEG = bytes.starts(with: [0xFF, 0xD8, 0xFF])
        guard isPNG || isJPEG else { throw DataIOError(path, "not a PNG or JPEG image") }
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: UInt32 = 0, height: UInt32 = 0
        var message = [CChar](repeating: 0, count: 256)
        var color: Int32 = 0
        let status = bytes.withUnsafeBytes { raw in
            isPNG
                ? mp_png_decode(raw.baseAddress, raw.count, Int32(channels), &color, &pixels, &width, &height, &message, message.count)
                : mp_jpeg_decode(raw.baseAddress, raw.count, Int32(channels), &pixels, &width, &height, &message, message.count)
        }
        guard status == 0, let pixels else {
            let why = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw DataIOError(path, "cannot decode the \(isPNG ? "PNG" : "JPEG") image (\(why.isEmpty ? "damaged data" : why))")
        }
        defer { mp_free(pixels) }
        let n = Int(width) * Int(height)
        if isPNG, channels == 1, color != 0 {
            // TensorFlow's PNG decoder: libpng's rgb_to_gray with 0.299/0.587 in 15-bit fixed point.
            let rgb = UnsafeBufferPointer(start: pixels, count: n * 3)
            let gray = (0..<n).map { i -> UInt8 in
                let v = 9798 * Int(rgb[3 * i]) + 19235 * Int(rgb[3 * i + 1]) + 3735 * Int(rgb[3 * i + 2])
                return UInt8(min(255, (v + 16384) >> 15))
            }
            return DecodedImage(width: Int(width), height: Int(height), channels: 1, pixels: gray)
        }
        return DecodedImage(width: Int(width), height: Int(height), channels: channels,
                            pixels: Array(UnsafeBufferPointer(start: pixels, count: n * channels)))
    }

    /// Image files in a folder and its sub-folders, sorted by path.
    public static func list(folder: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw DataIOError(folder, "no such folder")
        }
        guard let walker = FileManager.default.enumerator(atPath: folder) else { throw DataIOError(folder, "cannot list the folder") }
        var files: [String] = []
        for case let relative as String in walker where isImage(relative) {
            files.append(URL(fileURLWithPath: folder).appendingPathComponent(relative).path)
        }
        guard !files.isEmpty else { throw DataIOError(folder, "the folder has no PNG or JPEG images") }
        return files.sorted()
    }
}

extension DecodedImage {
    /// Bilinear resize with half-pixel centres and no antialiasing, as `tf.image.resize`
    /// (and so Keras' `image_dataset_from_directory`) does; values stay in 0…255.
    public func resized(width ow: Int, height oh: Int) -> [Float] {
        let c = channels
        var out = [Float](repeating: 0, count: ow * oh * c)
        let sy = Float(height) / Float(oh), sx = Float(width) / Float(ow)
        for oy in 0..<oh {
            let fy = max(0, (Float(oy) + 0.5) * sy - 0.5)
            let y0 = min(Int(fy), height - 1), y1 = min(y0 + 1, height - 1)
            let dy = fy - Float(y0)
            for ox in 0..<ow {
                let fx = max(0, (Float(ox) + 0.5) * sx - 0.5)
                let x0 = min(Int(fx), width - 1), x1 = min(x0 + 1, width - 1)
                let dx = fx - Float(x0)
                for ch in 0..<c {
                    let a = Float(pixels[(y0 * width + x0) * c + ch]), b = Float(pixels[(y0 * width + x1) * c + ch])
                    let p = Float(pixels[(y1 * width + x0) * c + ch]), q = Float(pixels[(y1 * width + x1) * c + ch])
                    let top = a + (b - a) * dx, bottom = p + (q - p) * dx
                    out[(oy * ow + ox) * c + ch] = top + (bottom - top) * dy
                }
            }
        }
        return out
    }
}
