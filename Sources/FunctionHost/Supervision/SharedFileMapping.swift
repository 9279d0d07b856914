import CSharedMemory
import Foundation
import Glibc

/// A file of 64-bit words mapped shared into memory: what is stored survives a crash of this
/// process (the kernel keeps the page), so a later process reads it. Every word is read and
/// written atomically, so another thread (the function-timeout watchdog) may read while one
/// writes, and a crash never leaves half a word.
final class SharedFileMapping: @unchecked Sendable {
    let url: URL
    let wordCount: Int
    /// The file's size in bytes before it was opened: 0 for a new file.
    let sizeFound: Int
    /// The mapped words, valid while this object lives: a hot path that keeps its owner alive
    /// may store through it directly (no reference counting per store).
    let words: UnsafeMutablePointer<Int64>

    /// Opens `url`, creating it, and sizes it to `wordCount` words (new words read 0).
    /// - Throws: ``JournalError`` naming the file when it cannot be opened or mapped.
    init(url: URL, wordCount: Int) throws {
        self.url = url
        self.wordCount = wordCount
        let descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw JournalError("cannot open \(url.path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        sizeFound = max(0, Int(lseek(descriptor, 0, SEEK_END)))
        let size = wordCount * 8
        guard ftruncate(descriptor, off_t(size)) == 0,
              let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else {
            throw JournalError("cannot map \(url.path): \(String(cString: strerror(errno)))")
        }
        words = mapping.assumingMemoryBound(to: Int64.self)
    }

    deinit {
        munmap(words, wordCount * 8)
    }

    @inline(__always)
    func load(_ index: Int) -> Int64 { sf_shared_load(words + index) }

    @inline(__always)
    func store(_ value: Int64, at index: Int) { sf_shared_store(words + index, value) }

    /// Stores `text`'s UTF-8 bytes (at most `capacityWords * 8`) from word `index` on; returns
    /// the byte count stored.
    func storeText(_ text: String, at index: Int, capacityWords: Int) -> Int {
        let bytes = Array(text.utf8.prefix(capacityWords * 8))
        for word in 0..<capacityWords {
            var value: UInt64 = 0
            for byte in 0..<8 where word * 8 + byte < bytes.count {
                value |= UInt64(bytes[word * 8 + byte]) << (8 * UInt64(byte))
            }
            store(Int64(bitPattern: value), at: index + word)
        }
        return bytes.count
    }

    /// The text of `count` bytes stored from word `index` on (nil when it is not UTF-8).
    func loadText(at index: Int, count: Int, capacityWords: Int) -> String? {
        guard count >= 0 && count <= capacityWords * 8 else { return nil }
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: load(index + $0 / 8)) >> (8 * UInt64($0 % 8))) }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Removes the file (the mapping stays valid until this object goes).
    func removeFile() {
        unlink(url.path)
    }
}

struct JournalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A 64-bit mix of four words (splitmix64 rounds): the check word that tells a whole record from
/// a torn or foreign one. Fixed arity: it runs for every settled message, and must not allocate.
@inline(__always)
func journalCheck(_ a: Int64, _ b: Int64, _ c: Int64, _ d: Int64) -> Int64 {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    state = journalMix(state, a)
    state = journalMix(state, b)
    state = journalMix(state, c)
    state = journalMix(state, d)
    return Int64(bitPattern: state)
}

@inline(__always)
private func journalMix(_ state: UInt64, _ value: Int64) -> UInt64 {
    var state = state ^ UInt64(bitPattern: value)
    state = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
    state = (state ^ (state >> 27)) &* 0x94D0_49BB_1331_11EB
    return state ^ (state >> 31)
}
