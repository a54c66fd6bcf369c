package clikd.gatesample.valid

import clikd.gatesample.valid.models.NewPet
import clikd.gatesample.valid.models.Pet
import io.ktor.client.HttpClient
import io.ktor.client.call.body
import io.ktor.client.plugins.contentnegotiation.ContentNegotiation
import io.ktor.client.request.get
import io.ktor.client.request.parameter
import io.ktor.client.request.post
import io.ktor.client.request.setBody
import io.ktor.http.ContentType
import io.ktor.http.contentType
import io.ktor.serialization.kotlinx.json.json
import kotlinx.serialization.json.Json

class PetsApi(private val client: HttpClient, private val baseUrl: String) {
    suspend fun listPets(limit: Int? = null): List<Pet> =
        client.get("$baseUrl/pets") {
            if (limit != null) parameter("limit", limit)
        }.body()

    suspend fun createPet(body: NewPet): Pet =
        client.post("$baseUrl/pets") {
            contentType(ContentType.Application.Json)
            setBody(body)
        }.body()

    companion object {
        val json: Json = Json { ignoreUnknownKeys = true }

        fun defaultClient(): HttpClient = HttpClient {
            install(ContentNegotiation) { json(json) }
        }

        /** Uses the serializer the kotlinx-serialization plugin generates: fails to compile without it. */
        fun encode(pet: Pet): String = json.encodeToString(Pet.serializer(), pet)
    }
}
