// A function ported from Tencent SCF: its handler read the CKafka trigger event
// ({"Records":[{"Ckafka":{...}}]}) and keeps doing so. Its trigger sets "eventFormat": "tencent".
import Foundation
import SwiftFunctions

struct CkafkaEvent: Decodable {
    struct Record: Decodable {
        struct Message: Decodable {
            let topic: String
            let partition: Int
            let offset: Int64
            let msgKey: String
            let msgBody: String
        }
        let Ckafka: Message
    }
    let Records: [Record]
}

/// The SCF handler, unchanged: logs each message body.
func mainHandler(_ event: CkafkaEvent, log: (String) -> Void) {
    for record in event.Records {
        let message = record.Ckafka
        log("ckafka \(message.topic)[\(message.partition)]@\(message.offset) key=\(message.msgKey): \(message.msgBody)")
    }
}

@_cdecl("run")
public func run(_ document: Document, _ context: Context) -> Status {
    context.run {
        let event = try JSONDecoder().decode(CkafkaEvent.self, from: Data(document.json.utf8))
        mainHandler(event) { context.logger.info($0) }
    }
}

@_cdecl("swiftfunc_signature_run")
public func runSignature() -> Signature { .of(run) }
