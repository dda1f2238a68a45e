import { assert, describe, it } from "@effect/vitest"
import * as SecretUrl from "../src/SecretUrl.js"

describe("SecretUrl", () => {
  it("redacts the password and secret-looking parameters, and keeps a directory as it is", () => {
    assert.strictEqual(
      SecretUrl.redact("postgres://bob:s3cr3t@db:5432/crm?sslmode=require&password=p2&api_key=k1"),
      "postgres://bob:***@db:5432/crm?sslmode=require&password=***&api_key=***",
    )
    assert.strictEqual(
      SecretUrl.redact("mysql://root@127.0.0.1:3306/test"),
      "mysql://root@127.0.0.1:3306/test",
    )
    assert.strictEqual(SecretUrl.redact(".pipeline/state"), ".pipeline/state")
  })

  it("shows a URL it cannot parse not at all, since it cannot tell where the secret is", () => {
    assert.strictEqual(SecretUrl.show("postgres://bob:pw@db/crm"), "postgres://bob:***@db/crm")
    assert.strictEqual(
      SecretUrl.show("postgres://bob:pw@db:port/crm"),
      "(a connection URL that could not be parsed)",
    )
  })

  it("scrubs every form a driver may echo: the URL, the password (also decoded), secret parameters", () => {
    const url = "postgres://bob:p%40ss@db/crm?token=t0k3n"
    const secrets = SecretUrl.secretsOf(url)
    const text = `connect ${url} failed; password "p@ss" (p%40ss) refused; token t0k3n`
    const scrubbed = SecretUrl.scrub(text, secrets)
    for (const secret of ["p@ss", "p%40ss", "t0k3n", url]) assert.notInclude(scrubbed, secret)
    assert.strictEqual(scrubbed, 'connect *** failed; password "***" (***) refused; token ***')
  })
})
