import CAvro
import Foundation
import Testing
@testable import FunctionHost

private let orderSchemaJSON = """
{"type":"record","name":"Order","namespace":"shop","fields":[
  {"name":"id","type":"long"},
  {"name":"name","type":"string"},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"note","type":["null","string"]},
  {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["RETAIL","WHOLESALE"]}},
  {"name":"raw","type":"bytes"},
  {"name":"price","type":"double"},
  {"name":"when","type":{"type":"long","logicalType":"timestamp-millis"}}
]}
"""

private let orderJSON = #"{"id":300,"name":"ab","tags":["x","yz"],"note":{"string":"hi"},"kind":"WHOLESALE","raw":"\u0000\u00FF","price":1.5,"when":1700000000000}"#

/// Hand-computed: Avro writes ints and longs as zigzag varints, 7 bits per byte,
/// low group first, high bit set on all but the last byte.
private let orderBytes: [UInt8] = [
    0xD8, 0x04,              // id 300: zigzag 600 = 0b100_1011000 -> 0x58|0x80, 0x04
    0x04, 0x61, 0x62,        // name: length 2 (zigzag 4), "ab"
    0x04,                    // tags: a block of 2 items
    0x02, 0x78,              //   "x"
    0x04, 0x79, 0x7A,        //   "yz"
    0x00,                    //   end of blocks
    0x02, 0x04, 0x68, 0x69,  // note: branch 1 (string), "hi"
    0x02,                    // kind: symbol 1, WHOLESALE
    0x04, 0x00, 0xFF,        // raw: 2 bytes
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F, // price 1.5: IEEE 0x3FF8000000000000, little-endian
    // when 1700000000000: zigzag 3400000000000 = 0x317A7FD5000, 7-bit groups
    // low first 0x00 0x20 0x2B 0x7E 0x79 0x62, continuation bit on all but the last
    0x80, 0xA0, 0xAB, 0xFE, 0xF9, 0x62,
]

private func schema(_ json: String) throws -> AvroSchema {
    try AvroSchema(json: json)
}

private func encode(_ json: String, _ schema: AvroSchema, codec: AvroCodec = AvroCodec()) throws -> [UInt8] {
    let utf8 = Array(json.utf8)
    return try utf8.withUnsafeBytes { buffer throws(SchemaError) in try codec.encode(json: buffer, schema: schema) }
}

private func decode(_ bytes: [UInt8], _ schema: AvroSchema, codec: AvroCodec = AvroCodec()) throws -> String {
    let json = try bytes.withUnsafeBytes { buffer throws(SchemaError) in try codec.decode(buffer, schema: schema) }
    return String(decoding: json, as: UTF8.self)
}

private func encodeError(_ json: String, _ schema: AvroSchema) -> String? {
    do {
        _ = try encode(json, schema)
        return nil
    } catch {
        return (error as? SchemaError)?.message
    }
}

private func decodeError(_ bytes: [UInt8], _ schema: AvroSchema) -> String? {
    do {
        _ = try decode(bytes, schema)
        return nil
    } catch {
        return (error as? SchemaError)?.message
    }
}

@Test func encodesRecordToHandComputedBytes() throws {
    #expect(try encode(orderJSON, schema(orderSchemaJSON)) == orderBytes)
}

@Test func decodesRecordToAvroJSONEncoding() throws {
    #expect(try decode(orderBytes, schema(orderSchemaJSON)) == orderJSON)
}

@Test func roundTripsThroughOneCodecManyTimes() throws {
    let order = try schema(orderSchemaJSON)
    let codec = AvroCodec()
    let inputs = [
        orderJSON,
        #"{"id":-3,"name":"","tags":[],"note":null,"kind":"RETAIL","raw":"","price":-0.1,"when":0}"#,
        #"{"id":9223372036854775807,"name":"Zoë \"q\" \\ \n ☃ 𝄞","tags":["a","b","c"],"note":{"string":""},"kind":"RETAIL","raw":"\u0001\u0080","price":1e+300,"when":-9223372036854775808}"#,
    ]
    for _ in 0..<3 {
        for input in inputs {
            let bytes = try encode(input, order, codec: codec)
            let json = try decode(bytes, order, codec: codec)
            #expect(json == input)
            #expect(try encode(json, order, codec: codec) == bytes)
        }
    }
}

@Test func encodesNegativeLongAsZigzag() throws {
    let long = try schema(#""long""#)
    #expect(try encode("-3", long) == [0x05])
    #expect(try encode("-64", long) == [0x7F])
    #expect(try encode("64", long) == [0x80, 0x01])
    #expect(try decode([0x80, 0x01], long) == "64")
}

@Test func acceptsPlainAndTaggedUnionValues() throws {
    let optionalString = try schema(#"["null","string"]"#)
    #expect(try encode(#""abc""#, optionalString) == [0x02, 0x06, 0x61, 0x62, 0x63])
    #expect(try encode(#"{"string":"abc"}"#, optionalString) == [0x02, 0x06, 0x61, 0x62, 0x63])
    #expect(try encode("null", optionalString) == [0x00])

    let optionalLong = try schema(#"["null","long"]"#)
    #expect(try encode("5", optionalLong) == [0x02, 0x0A])
    #expect(try encode(#"{"long":5}"#, optionalLong) == [0x02, 0x0A])
    #expect(try decode([0x02, 0x0A], optionalLong) == #"{"long":5}"#)

    let numbers = try schema(#"["null","double","long"]"#)
    #expect(try encode("5", numbers) == [0x04, 0x0A])
    #expect(try encode("0.5", numbers) == [0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x3F])
}

@Test func namedUnionBranchesUseTheFullName() throws {
    let shape = try schema("""
    ["null",{"type":"record","name":"Point","namespace":"geo","fields":[{"name":"x","type":"int"}]},
     {"type":"enum","name":"Side","symbols":["L","R"]}]
    """)
    #expect(try decode([0x02, 0x0E], shape) == #"{"geo.Point":{"x":7}}"#)
    #expect(try encode(#"{"geo.Point":{"x":7}}"#, shape) == [0x02, 0x0E])
    #expect(try encode(#"{"Point":{"x":7}}"#, shape) == [0x02, 0x0E])
    #expect(try encode(#"{"x":7}"#, shape) == [0x02, 0x0E])
    #expect(try encode(#""R""#, shape) == [0x04, 0x02])
    #expect(try decode([0x04, 0x02], shape) == #"{"Side":"R"}"#)
}

@Test func ambiguousPlainUnionValueAsksForTheTaggedForm() throws {
    let message = encodeError(#"{"v":"abc"}"#, try schema("""
    {"type":"record","name":"R","fields":[{"name":"v","type":["string","bytes"]}]}
    """))
    #expect(message == #"field 'v': the string "abc" fits more than one branch of the union (string, bytes): write it as {"string": ...}"#)
}

@Test func missingFieldsTakeDefaultsOrNull() throws {
    let withDefaults = try schema("""
    {"type":"record","name":"R","fields":[
      {"name":"a","type":"int","default":7},
      {"name":"b","type":["null","string"]},
      {"name":"c","type":["string","null"],"default":"x"},
      {"name":"d","type":{"type":"record","name":"Inner","fields":[{"name":"e","type":"string","default":"hi"}]},"default":{}},
      {"name":"f","type":{"type":"array","items":"long"},"default":[1,2]},
      {"name":"g","type":"bytes","default":"\\u00ff"}
    ]}
    """)
    let bytes = try encode("{}", withDefaults)
    #expect(bytes == [0x0E, 0x00, 0x00, 0x02, 0x78, 0x04, 0x68, 0x69, 0x04, 0x02, 0x04, 0x00, 0x02, 0xFF])
    #expect(try decode(bytes, withDefaults) == #"{"a":7,"b":null,"c":{"string":"x"},"d":{"e":"hi"},"f":[1,2],"g":"\u00FF"}"#)

    let required = try schema(#"{"type":"record","name":"R","fields":[{"name":"id","type":"long"}]}"#)
    #expect(encodeError("{}", required) == "field 'id': missing, and the schema gives it no default")
}

@Test func encodeErrorsNameTheFieldPath() throws {
    let nested = try schema("""
    {"type":"record","name":"Order","fields":[
      {"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"id","type":"long"}]}},
      {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[{"name":"qty","type":"int"}]}}},
      {"name":"attrs","type":{"type":"map","values":"boolean"},"default":{}},
      {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]},"default":"A"},
      {"name":"raw","type":"bytes","default":""},
      {"name":"hash","type":{"type":"fixed","name":"Hash","size":2},"default":"\\u0001\\u0002"},
      {"name":"maybe","type":["null","long"]}
    ]}
    """)
    let valid = #""customer":{"id":1},"lines":[{"qty":1}]"#
    let cases: [(String, String)] = [
        (#"{"customer":{"id":"x"},"lines":[]}"#, #"field 'customer.id': expected a long, got the string "x""#),
        (#"{"customer":{"id":1.5},"lines":[]}"#, "field 'customer.id': expected a long, got the number 1.5"),
        (#"{"customer":{"id":1e30},"lines":[]}"#, "field 'customer.id': expected a long, got 1e+30, which is out of range"),
        (#"{"customer":{},"lines":[]}"#, "field 'customer.id': missing, and the schema gives it no default"),
        (#"{"customer":{"id":1,"name":"x"},"lines":[]}"#, "field 'customer.name': the record 'Customer' has no such field"),
        (#"{"customer":{"id":1},"lines":[{"qty":1},{"qty":3000000000}]}"#, "field 'lines[1].qty': expected an int, got 3000000000, which is out of range"),
        (#"{"customer":{"id":1},"lines":[{"qty":true}]}"#, "field 'lines[0].qty': expected an int, got true"),
        (#"{\#(valid),"attrs":{"k":1}}"#, #"field 'attrs["k"]': expected a boolean, got the number 1"#),
        (#"{\#(valid),"kind":"C"}"#, #"field 'kind': expected a symbol of the enum 'Kind' (A, B), got the string "C""#),
        (#"{\#(valid),"raw":"€"}"#, "field 'raw': expected bytes as a string of code points U+0000-U+00FF, got U+20AC at character 0"),
        (#"{\#(valid),"hash":"abc"}"#, "field 'hash': expected the fixed 'Hash' of 2 bytes, got 3 bytes"),
        (#"{\#(valid),"maybe":"x"}"#, #"field 'maybe': expected one of null, long (or, in the Avro JSON encoding, {"long": ...}), got the string "x""#),
        (#"{\#(valid),"extra":1}"#, "field 'extra': the record 'Order' has no such field"),
        (#"[1]"#, "the output does not match the schema 'Order': expected the record 'Order' (a JSON object), got an array"),
    ]
    for (input, expected) in cases {
        #expect(encodeError(input, nested) == expected, "\(input)")
    }
    #expect(encodeError("{", nested)?.hasPrefix("the output is not valid JSON") == true)
}

@Test func truncatedValueIsAnError() throws {
    let order = try schema(orderSchemaJSON)
    let message = decodeError(Array(orderBytes.dropLast(3)), order)
    #expect(message?.hasPrefix("the value is 31 bytes, too short for the schema 'shop.Order'") == true, "\(message ?? "")")
    #expect(decodeError([], order)?.hasPrefix("the value is 0 bytes, too short") == true)
}

@Test func trailingBytesAreAnError() throws {
    let order = try schema(orderSchemaJSON)
    #expect(decodeError(orderBytes + [0x00, 0x01], order) == "the value is 36 bytes but the schema 'shop.Order' reads 34: written with another schema?")
    let point = try schema(#"{"type":"record","name":"Point","fields":[{"name":"x","type":"int"},{"name":"y","type":"int"}]}"#)
    #expect(decodeError([0x02, 0x04, 0x06], point) == "the value is 3 bytes but the schema 'Point' reads 2: written with another schema?")
}

@Test func nonCanonicalBlocksAreNotMistakenForTrailingBytes() throws {
    let numbers = try schema(#"{"type":"array","items":"int"}"#)
    // Two one-item blocks, as a streaming writer may emit: 5 bytes where the
    // canonical encoding [0x04, 0x02, 0x04, 0x00] takes 4.
    #expect(try decode([0x02, 0x02, 0x02, 0x04, 0x00], numbers) == "[1,2]")
    // A negative count announces the block's byte size (2) so readers can skip it.
    #expect(try decode([0x03, 0x04, 0x02, 0x04, 0x00], numbers) == "[1,2]")
    #expect(decodeError([0x02, 0x02, 0x02, 0x04, 0x00, 0xFF], numbers) == "the value is 6 bytes but the schema 'array' reads 5: written with another schema?")
}

@Test func valuesFromAnotherSchemaAreErrors() throws {
    let kind = try schema(#"{"type":"record","name":"R","fields":[{"name":"k","type":{"type":"enum","name":"Kind","symbols":["A"]}}]}"#)
    #expect(decodeError([0x08], kind) == "field 'k': enum index 4 is out of range for 'Kind' (1 symbols): written with another schema?")
    let optional = try schema(#"["null","int"]"#)
    #expect(decodeError([0x08], optional)?.hasPrefix("the value (1 bytes) does not decode with the schema 'union'") == true)
    let text = try schema(#"{"type":"record","name":"R","fields":[{"name":"s","type":"string"}]}"#)
    #expect(decodeError([0x04, 0xC3, 0x28], text) == "field 's': the string is not valid UTF-8")
}

@Test func nonFiniteNumbersCannotBeDecodedToJSON() throws {
    let reading = try schema(#"{"type":"record","name":"R","fields":[{"name":"v","type":"double"},{"name":"f","type":"float"}]}"#)
    let nan = withUnsafeBytes(of: Double.nan.bitPattern.littleEndian, Array.init)
    let one = withUnsafeBytes(of: Float(1).bitPattern.littleEndian, Array.init)
    let infinity = withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian, Array.init)
    #expect(decodeError(nan + one, reading) == "field 'v': the double nan has no JSON representation")
    #expect(decodeError(withUnsafeBytes(of: 0.25.bitPattern.littleEndian, Array.init) + infinity, reading) == "field 'f': the float inf has no JSON representation")
}

@Test func numbersUseShortestRoundTripText() throws {
    let numbers = try schema(#"{"type":"record","name":"N","fields":[{"name":"d","type":"double"},{"name":"f","type":"float"},{"name":"i","type":"int"}]}"#)
    let bytes = try encode(#"{"d":0.1,"f":1.1,"i":-2147483648}"#, numbers)
    #expect(try decode(bytes, numbers) == #"{"d":0.1,"f":1.1,"i":-2147483648}"#)
}

@Test func bytesKeepZeroBytes() throws {
    // avro_value_to_json in avro-c 1.11.1 stops at the first 0x00 (AVRO-4136).
    let decimal = try schema(#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#)
    #expect(try decode([0x06, 0x01, 0x00, 0x02], decimal) == #""\u0001\u0000\u0002""#)
}

@Test func recursiveSchemasRoundTrip() throws {
    let list = try schema(#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}"#)
    let bytes = try encode(#"{"v":1,"next":{"v":2}}"#, list)
    #expect(bytes == [0x02, 0x02, 0x04, 0x00])
    #expect(try decode(bytes, list) == #"{"v":1,"next":{"Node":{"v":2,"next":null}}}"#)
}

@Test func mapsEncodeInKeyOrder() throws {
    let map = try schema(#"{"type":"map","values":"int"}"#)
    let bytes = try encode(#"{"b":2,"a":1}"#, map)
    #expect(bytes == [0x04, 0x02, 0x61, 0x02, 0x02, 0x62, 0x04, 0x00])
    #expect(try decode(bytes, map) == #"{"a":1,"b":2}"#)
}

@Test func matchesAvroCJSONWhereAvroCIsRight() throws {
    // avro_value_to_json is the reference for the format; compare on data
    // free of its known defects (0x00 in bytes, long doubles, non-ASCII text).
    let order = try schema(orderSchemaJSON)
    let input = #"{"id":-3,"name":"a\"b\\c\td\u0001","tags":["x"],"note":null,"kind":"RETAIL","raw":"\u0001\u007F\u0080\u00AB\"","price":0.5,"when":12}"#
    let bytes = try encode(input, order)

    var value = avro_value_t()
    let iface = try #require(avro_generic_class_from_schema(order.raw))
    defer { cavro_value_iface_decref(iface) }
    #expect(avro_generic_value_new(iface, &value) == 0)
    defer { avro_value_decref(&value) }
    let reader = bytes.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { avro_reader_memory($0.baseAddress, Int64($0.count)) }
    }
    defer { avro_reader_free(reader) }
    #expect(avro_value_read(reader, &value) == 0)
    var text: UnsafeMutablePointer<CChar>?
    #expect(avro_value_to_json(&value, 1, &text) == 0)
    defer { free(text) }
    let reference = try String(cString: #require(text))

    // jansson separates with ", " and ": " even on one line; the strings here
    // contain neither, so dropping the spaces leaves only real differences.
    let compact = reference.replacingOccurrences(of: ", ", with: ",").replacingOccurrences(of: ": ", with: ":")
    #expect(try decode(bytes, order) == compact)
}

@Test func decodesBytesWrittenByFastavro() throws {
    let reading = try schema("""
    {"type":"record","name":"Reading","namespace":"iot","fields":[
      {"name":"sensor","type":"string"},
      {"name":"ok","type":"boolean"},
      {"name":"delta","type":"int"},
      {"name":"temp","type":"float"},
      {"name":"day","type":{"type":"int","logicalType":"date"}},
      {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
      {"name":"digest","type":{"type":"fixed","name":"Digest","size":4}},
      {"name":"labels","type":{"type":"map","values":"long"}},
      {"name":"location","type":["null",{"type":"record","name":"Point","fields":[{"name":"lat","type":"double"},{"name":"lon","type":"double"}]}]},
      {"name":"note","type":["null","string"]}
    ]}
    """)
    // Made offline with fastavro 1.13.1: fastavro.schemaless_writer(buf, parse_schema(<the schema above>),
    //   {"sensor": "t-1\u00e9", "ok": True, "delta": -64, "temp": 21.5, "day": date(2024, 1, 15),
    //    "amount": Decimal("256.00"), "digest": b"\x00\x01\xfe\xff", "labels": {"a": 1},
    //    "location": {"lat": 52.5, "lon": -0.25}, "note": None})
    let fastavroBytes: [UInt8] = [
        0x0A, 0x74, 0x2D, 0x31, 0xC3, 0xA9, 0x01, 0x7F, 0x00, 0x00, 0xAC, 0x41, 0xB2, 0xB4, 0x02, 0x04,
        0x64, 0x00, 0x00, 0x01, 0xFE, 0xFF, 0x02, 0x02, 0x61, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x40, 0x4A, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xD0, 0xBF, 0x00,
    ]
    // date is days since 1970-01-01 (19737); the decimal is its big-endian
    // unscaled integer 25600 = 0x64 0x00, shown as code points.
    let expected = #"{"sensor":"t-1é","ok":true,"delta":-64,"temp":21.5,"day":19737,"amount":"d\u0000","digest":"\u0000\u0001\u00FE\u00FF","labels":{"a":1},"location":{"iot.Point":{"lat":52.5,"lon":-0.25}},"note":null}"#
    #expect(try decode(fastavroBytes, reading) == expected)
    #expect(try encode(expected, reading) == fastavroBytes)
}

@Test func schemaParseErrorsCarryAvroCText() {
    do {
        _ = try AvroSchema(json: #"{"type":"record","name":"R","fields":[{"name":"a","type":"nope"}]}"#)
        Issue.record("expected a parse error")
    } catch {
        #expect(error.message.hasPrefix("invalid Avro schema: "))
        #expect(error.message.contains("nope"), "\(error.message)")
    }
    #expect(throws: SchemaError.self) { try AvroSchema(json: "") }
    #expect(throws: SchemaError.self) { try AvroSchema(json: "{not json") }
}

@Test func codecsCacheEntriesPerSchemaSafely() throws {
    let codec = AvroCodec()
    let long = try schema(#""long""#)
    let text = try schema(#""string""#)
    for _ in 0..<100 {
        #expect(try decode([0x0A], long, codec: codec) == "5")
        #expect(try decode([0x02, 0x61], text, codec: codec) == #""a""#)
    }
    for number in 0..<100 {
        let fresh = try schema(#""int""#)
        #expect(try encode("\(number)", fresh, codec: codec) == encode("\(number)", long))
    }
}
