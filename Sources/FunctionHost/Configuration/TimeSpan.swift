import Foundation

/// Parses Azure's TimeSpan text, as host.json and function.json write durations:
/// `hh:mm:ss`, `hh:mm:ss.fff` or `d.hh:mm:ss`. Returns seconds, or nil when it is not one.
func parseTimeSpan(_ text: String) -> Double? {
    let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 3 else { return nil }
    var days = 0.0
    var hoursText = parts[0]
    if let dot = hoursText.firstIndex(of: ".") {
        guard let value = Double(hoursText[..<dot]), value >= 0 else { return nil }
        days = value
        hoursText = hoursText[hoursText.index(after: dot)...]
    }
    guard let hours = Double(hoursText), let minutes = Double(parts[1]), let seconds = Double(parts[2]),
          hours >= 0, minutes >= 0, minutes < 60, seconds >= 0, seconds < 60 else { return nil }
    return days * 86_400 + hours * 3_600 + minutes * 60 + seconds
}
