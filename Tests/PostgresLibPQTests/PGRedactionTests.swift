import PostgresLibPQ
import Testing

@Suite("Redaction of secrets")
struct PGRedactionTests {
    @Test("known secrets are masked wherever they appear")
    func knownSecrets() {
        let text = PGRedaction.redact("FATAL: role s3cr3t! said s3cr3t!", secrets: ["s3cr3t!"])
        #expect(text == "FATAL: role *** said ***")
    }

    @Test("password= in a conninfo is masked, quoted or not")
    func keywordPasswords() {
        #expect(PGRedaction.redact("host=db password=abc user=u") == "host=db password=*** user=u")
        #expect(PGRedaction.redact("host=db password = 'a b\\'c' user=u") == "host=db password=*** user=u")
        #expect(PGRedaction.redact("PASSWORD=xyz") == "password=***")
        #expect(PGRedaction.redact("no secret here: passwords are good") == "no secret here: passwords are good")
    }

    @Test("the password of a URI is masked, the user kept")
    func uriPasswords() {
        #expect(PGRedaction.redact("postgresql://app:pa:ss@db:5432/x?sslmode=require") == "postgresql://app:***@db:5432/x?sslmode=require")
        #expect(PGRedaction.redact("postgres://app@db/x") == "postgres://app@db/x")
        #expect(PGRedaction.redact("see postgresql://a:b@h/ and postgresql://c:d@h/") == "see postgresql://a:***@h/ and postgresql://c:***@h/")
        #expect(PGRedaction.redact("postgresql://u@h/db?password=zz&sslmode=off") == "postgresql://u@h/db?password=***&sslmode=off")
    }
}
