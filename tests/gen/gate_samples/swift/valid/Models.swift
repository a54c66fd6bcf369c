import Foundation

public enum PetStatus: String, Codable, Sendable {
    case available
    case sold
}

public struct Pet: Codable, Sendable, Equatable {
    public let id: Int64
    public let name: String
    public let tag: String?
    public let status: PetStatus

    enum CodingKeys: String, CodingKey {
        case id, name, tag
        case status = "pet_status"
    }

    public init(id: Int64, name: String, tag: String? = nil, status: PetStatus = .available) {
        self.id = id
        self.name = name
        self.tag = tag
        self.status = status
    }
}
