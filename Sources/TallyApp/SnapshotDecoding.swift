import Progress

extension JobSnapshot {
    /// A snapshot read back from its JSON text (an event or `GET /api/jobs/{id}`), with `data`
    /// kept exactly as it was written; nil when the text is not JSON or a required field is
    /// missing or of the wrong type.
    public static func decode(json: some Collection<UInt8>) -> JobSnapshot? {
        guard let parsed = try? JSONParser().parse(json, keepingTextOf: "data") else { return nil }
        return decode(parsed.value, dataText: parsed.text)
    }

    /// A snapshot read back from its parsed JSON, for clients such as `tally watch`; nil when
    /// a required field is missing or of the wrong type. `dataText` is the source text of
    /// `data` (`JSONParser.parse(_:keepingTextOf:)`); without it `data` is encoded again from
    /// the parsed value, which rounds integers beyond 2^53.
    public static func decode(_ value: JSONValue, dataText: [UInt8]? = nil) -> JobSnapshot? {
        guard let id = value["id"]?.stringValue, let seq = value["seq"]?.countValue,
              let state = value["state"]?.stringValue.flatMap(JobState.init(rawValue:)) else { return nil }
        let kind = value["kind"]?.stringValue.flatMap(JobKind.init(rawValue:)) ?? .import
        let created = value["createdAt"]?.stringValue.flatMap(parseRFC3339) ?? Timestamp(milliseconds: 0)
        var snapshot = JobSnapshot(id: id, kind: kind, name: value["name"]?.stringValue ?? id, createdAt: created)
        snapshot.seq = seq
        snapshot.state = state
        snapshot.message = value["message"]?.stringValue
        snapshot.percent = value["percent"]?.numberValue
        snapshot.processed = value["processed"]?.countValue ?? 0
        snapshot.succeeded = value["succeeded"]?.countValue ?? 0
        snapshot.failed = value["failed"]?.countValue ?? 0
        snapshot.total = value["total"]?.countValue
        snapshot.totalExact = value["totalExact"] == .bool(true)
        snapshot.bytesRead = value["bytesRead"]?.countValue
        snapshot.bytesTotal = value["bytesTotal"]?.countValue
        snapshot.rate = value["rate"]?.numberValue
        snapshot.eta = value["eta"]?.numberValue
        snapshot.startedAt = value["startedAt"]?.stringValue.flatMap(parseRFC3339)
        snapshot.updatedAt = value["updatedAt"]?.stringValue.flatMap(parseRFC3339) ?? created
        snapshot.finishedAt = value["finishedAt"]?.stringValue.flatMap(parseRFC3339)
        if let code = value["error"]?["code"]?.stringValue, let message = value["error"]?["message"]?.stringValue {
            snapshot.error = JobError(code: code, message: message)
        }
        snapshot.table = value["table"]?.stringValue
        if let data = value["data"], case .object = data {
            snapshot.data = JSONText(validating: dataText.map { String(decoding: $0, as: UTF8.self) } ?? data.text)
        }
        return snapshot
    }

    /// `2026-12-04T16:00:05.120Z` (UTC, as the server writes it) to a timestamp.
    static func parseRFC3339(_ text: String) -> Timestamp? {
        let bytes = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int64? {
            guard start + count <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[start..<(start + count)] {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            return value
        }
        guard bytes.count >= 20, let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var milliseconds: Int64 = 0
        if bytes.count >= 24, bytes[19] == UInt8(ascii: "."), let fraction = number(20, 3) { milliseconds = fraction }
        // Days from the civil date (Howard Hinnant's algorithm), valid for the proleptic calendar.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Timestamp(milliseconds: ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + milliseconds)
    }
}
