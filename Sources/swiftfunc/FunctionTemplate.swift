/// The files `swiftfunc new` writes for a function: a SwiftPM package building a dynamic library
/// whose entry point's parameters match the function.json it writes beside it.
struct FunctionTemplate {
    var name: String
    var many: Bool
    var text: Bool
    var topic: String
    var outputs: [String]
    var sdkPath: String

    var files: [(path: String, contents: String)] {
        [("Package.swift", package), ("Sources/\(name)/\(name).swift", source), ("function.json", functionJSON)]
    }

    var package: String {
        """
        // swift-tools-version:6.0
        // The function \(name): `swiftfunc build` in the app folder builds it and copies lib\(name).so
        // next to function.json. Build it with the same Swift toolchain as the host.
        import PackageDescription

        let package = Package(
            name: "\(name)",
            products: [
                .library(name: "\(name)", type: .dynamic, targets: ["\(name)"]),
            ],
            dependencies: [
                .package(name: "swiftfunc", path: \(swiftLiteral(sdkPath))),
            ],
            targets: [
                .target(name: "\(name)", dependencies: [.product(name: "SwiftFunctions", package: "swiftfunc")]),
            ]
        )

        """
    }

    private var outputNames: [String] {
        outputs.indices.map { $0 == 0 ? "output" : "output\($0 + 1)" }
    }

    var source: String {
        let trigger = many ? "_ events: Event, _ count: Int" : "_ event: Event"
        let parameters = ([trigger] + outputNames.map { "_ \($0): Output" } + ["_ context: Context"]).joined(separator: ", ")
        let describe = text
            ? #"'\(event.valueString ?? "")'"#
            : #"\(event.value?.byteCount ?? 0) bytes"#
        var perEvent = [#"context.logger.info("\#(name) got \#(describe) from \(event.topic)[\(event.partition)]@\(event.offset)")"#]
        for output in outputNames {
            perEvent.append("try \(output).send(value: event.valueBytes, key: event.keyBytes)")
        }
        let lines = many
            ? ["for event in Batch(events, count) {"] + perEvent.map { "    " + $0 } + ["}"]
            : perEvent
        let body = lines.map { "        " + $0 }.joined(separator: "\n")
        let what = (many ? "Runs for each batch of messages of \(topic)" : "Runs for each message of \(topic)")
            + (outputs.isEmpty ? "." : ", and forwards each one to \(outputs.joined(separator: ", ")).")
        return """
            import SwiftFunctions

            /// \(what)
            /// `event.key`, `event.value` and header values are views valid during the call (copy with
            /// `valueString`, `valueBytes`, `decodeValue`); headers are parsed only if you ask for them:
            /// `event.header("name", in: context)?.valueString`, `event.headers(in: context)`.
            @_cdecl("run")
            public func run(\(parameters)) -> Status {
                context.run {
            \(body)
                }
            }

            /// Lets the host check function.json against the parameters above when it loads the library.
            @_cdecl("swiftfunc_signature_run")
            public func runSignature() -> Signature { .of(run) }

            """
    }

    var functionJSON: String {
        var bindings = [
            """
                {
                  "type": "kafkaTrigger",
                  "direction": "in",
                  "name": "\(many ? "events" : "event")",
                  "brokerList": "%BrokerList%",
                  "topic": \(jsonLiteral(topic)),
                  "consumerGroup": \(jsonLiteral(name.lowercased())),
                  "cardinality": "\(many ? "MANY" : "ONE")",
                  "dataType": "\(text ? "string" : "binary")"
                }
            """,
        ]
        for (index, output) in outputs.enumerated() {
            bindings.append("""
                    {
                      "type": "kafka",
                      "direction": "out",
                      "name": "\(outputNames[index])",
                      "brokerList": "%BrokerList%",
                      "topic": \(jsonLiteral(output))
                    }
                """)
        }
        return """
            {
              "bindings": [
            \(bindings.joined(separator: ",\n"))
              ]
            }

            """
    }
}

/// `text` as a JSON string literal.
func jsonLiteral(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case _ where scalar.value < 0x20: result += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}

/// `text` as a Swift string literal.
func swiftLiteral(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case _ where scalar.value < 0x20: result += "\\u{" + String(scalar.value, radix: 16) + "}"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
