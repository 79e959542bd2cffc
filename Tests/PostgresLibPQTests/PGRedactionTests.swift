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

@Suite("Redaction of every secret conninfo keyword")
struct PGSecretKeywordTests {
    @Test("libpq's secret keywords are known: password and sslpassword at least")
    func secretKeywords() {
        #expect(PGConninfo.secretKeywords.isSuperset(of: ["password", "sslpassword"]))
        #expect(!PGConninfo.secretKeywords.contains("user"))
    }

    @Test("sslpassword= in key/value form is masked, quoted or not; password is not mistaken inside it")
    func keywordForm() {
        #expect(PGRedaction.redact("host=db sslpassword=k3y user=u") == "host=db sslpassword=*** user=u")
        #expect(PGRedaction.redact("host=db sslpassword = 'a b\\'c' password=p") == "host=db sslpassword=*** password=***")
        #expect(PGRedaction.redact("SSLPassword=xyz sslkey=/k") == "sslpassword=*** sslkey=/k")
        #expect(PGRedaction.redact("mysslpassword=visible") == "mysslpassword=visible")
    }

    @Test("secret keywords in a URI's query are masked, percent-encoded names included")
    func uriQuery() {
        #expect(PGRedaction.redact("postgresql://u@h/db?sslpassword=k3y&sslmode=require") == "postgresql://u@h/db?sslpassword=***&sslmode=require")
        #expect(PGRedaction.redact("postgresql://u@h/db?ssl%70assword=k3y") == "postgresql://u@h/db?ssl%70assword=***")
        #expect(PGRedaction.redact("postgresql://u@h/db?%70assword=k3y&application_name=a") == "postgresql://u@h/db?%70assword=***&application_name=a")
        #expect(PGRedaction.redact("postgresql:///db?host=/tmp&sslpassword=k3y") == "postgresql:///db?host=/tmp&sslpassword=***")
    }

    @Test("a URI's userinfo password is masked as libpq reads it, up to the @ before any /")
    func uriUserinfo() {
        #expect(PGRedaction.redact("postgresql://app:pa?ss@db/x") == "postgresql://app:***@db/x")
        #expect(PGRedaction.redact("postgresql://app:pa%40ss@db:5432") == "postgresql://app:***@db:5432")
        #expect(PGRedaction.redact("postgresql://db/x?user=a@b") == "postgresql://db/x?user=a@b")
    }

    @Test("a conninfo shown in status hides every secret value libpq reads from it")
    func conninfo() {
        let uri = "postgresql://app:pa%20ss@db/x?sslpassword=s%20k"
        let shown = PGRedaction.redact(conninfo: uri)
        #expect(!shown.contains("pa%20ss") && !shown.contains("s%20k"), "\(shown)")
        let spaced = "host=db password='two words' sslpassword='more words here'"
        let masked = PGRedaction.redact(conninfo: spaced)
        #expect(!masked.contains("words"), "\(masked)")
        #expect(masked.contains("host=db"))
    }
}
