package clikd.gatesample.valid.models

import kotlinx.serialization.SerialName
import kotlinx.serialization.Serializable

@Serializable
data class Pet(
    val id: Long,
    val name: String,
    @SerialName("tag") val tag: String? = null,
    val status: PetStatus = PetStatus.AVAILABLE,
)

@Serializable
enum class PetStatus {
    @SerialName("available") AVAILABLE,
    @SerialName("sold") SOLD,
}

@Serializable
data class NewPet(val name: String, val tag: String? = null)
