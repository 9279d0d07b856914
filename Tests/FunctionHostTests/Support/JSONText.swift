import FunctionABI
import Foundation

/// Parses JSON text into Foundation objects for comparison.
func parseJSON(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}

func documentText(_ event: UnsafePointer<sf_event_v1>) -> String {
    String(decoding: UnsafeRawBufferPointer(start: event.pointee.value, count: event.pointee.value_length), as: UTF8.self)
}
