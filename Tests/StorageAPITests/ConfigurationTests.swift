import Database
import StorageServer
import Testing

@Suite struct ConfigurationTests {
    let minimal = ["DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db", "AUTH_JWT_SECRET": "s"]

    @Test func defaults() throws {
        let configuration = try ServerConfiguration.fromEnvironment(minimal)
        #expect(configuration.port == 5000 && configuration.host == "0.0.0.0")
        #expect(configuration.storageMode == .file)
        #expect(configuration.fileStoragePath == "./data/storage" && configuration.s3Bucket == "stub")
        #expect(configuration.tenantID == "storage-single-tenant")
        #expect(configuration.uploadFileSizeLimit == 52_428_800)
        #expect(configuration.corsAllowedOrigins == ["*"])
        #expect(configuration.uploadSignedURLExpirationSeconds == 7200)
        #expect(configuration.tusURLExpiryMilliseconds == 86_400_000)
        #expect(configuration.database.database == "db" && configuration.database.maximumConnections == 20)
        #expect(configuration.metricsEnabled && configuration.cdnPurgeEndpoint == nil && configuration.cdnPurgeKey == nil)
    }

    @Test func metricsSwitchAndCDNPurgeEndpoint() throws {
        var environment = minimal
        environment["PROMETHEUS_METRICS_ENABLED"] = "false"
        environment["CDN_PURGE_ENDPOINT_URL"] = "https://cdn.example/api"
        environment["CDN_PURGE_ENDPOINT_KEY"] = "k"
        let configuration = try ServerConfiguration.fromEnvironment(environment)
        #expect(configuration.metricsEnabled == false)
        #expect(configuration.cdnPurgeEndpoint?.absoluteString == "https://cdn.example/api" && configuration.cdnPurgeKey == "k")
    }

    @Test func upstreamAliases() throws {
        var environment = ["DATABASE_URL": minimal["DATABASE_URL"]!, "PGRST_JWT_SECRET": "alias", "SERVER_PORT": "7000",
                           "FILE_SIZE_LIMIT": "1000", "STORAGE_FILE_BACKEND_PATH": "/srv", "PROJECT_REF": "stub-tenant"]
        environment["CORS_ALLOWED_ORIGINS"] = "https://a.example, https://b.example"
        let configuration = try ServerConfiguration.fromEnvironment(environment)
        #expect(configuration.jwtSecret == "alias" && configuration.port == 7000 && configuration.uploadFileSizeLimit == 1000)
        #expect(configuration.fileStoragePath == "/srv" && configuration.tenantID == "stub-tenant")
        #expect(configuration.corsAllowedOrigins == ["https://a.example", "https://b.example"])
    }

    @Test(arguments: [
        ([:], "configuration error: DATABASE_URL is required"),
        (["DATABASE_URL": "mysql://x"], "configuration error: DATABASE_URL must look like postgres://user:password@host:port/database"),
        (["DATABASE_POOL_URL": "postgres://127.0.0.1:6432/db"], "configuration error: DATABASE_POOL_URL has no user name"),
        (["AUTH_JWT_SECRET": ""], "configuration error: AUTH_JWT_SECRET is required"),
        (["PORT": "eighty"], "configuration error: PORT must be a whole number in 0...65535, not eighty"),
        (["PORT": "70000"], "configuration error: PORT must be a whole number in 0...65535, not 70000"),
        (["STORAGE_MODE": "tape"], "configuration error: STORAGE_MODE must be file, self-hosted or cloud, not tape"),
        (["LOG_LEVEL": "loud"], "configuration error: LOG_LEVEL must be trace, debug, info, notice, warning, error or critical"),
        (["IMAGE_TRANSFORMATION_ENABLED": "maybe"], "configuration error: IMAGE_TRANSFORMATION_ENABLED must be true or false, not maybe"),
        (["UPLOAD_FILE_SIZE_LIMIT": "-1"], "configuration error: UPLOAD_FILE_SIZE_LIMIT must be a whole number in 0...9223372036854775807, not -1"),
        (["TENANT_ID": "a/b"], "configuration error: TENANT_ID must be a non-empty name without '/'"),
        (["AUTH_JWT_ALGORITHM": "RS256"], "configuration error: AUTH_JWT_ALGORITHM must be HS256, HS384 or HS512"),
        (["CDN_PURGE_ENDPOINT_URL": "cdn.example"], "configuration error: CDN_PURGE_ENDPOINT_URL must be an http(s) URL, not cdn.example"),
        (["PROMETHEUS_METRICS_ENABLED": "sometimes"], "configuration error: PROMETHEUS_METRICS_ENABLED must be true or false, not sometimes"),
    ])
    func invalidSettingsNameTheVariable(_ overrides: [String: String], _ message: String) {
        var environment = overrides.isEmpty ? [:] : minimal
        for (key, value) in overrides { environment[key] = value }
        #expect {
            try ServerConfiguration.fromEnvironment(environment)
        } throws: { error in
            (error as? ConfigurationError)?.description == message
        }
    }

    @Test func poolURLSendsQueriesThroughThePooler() throws {
        var environment = minimal
        #expect(try ServerConfiguration.fromEnvironment(environment).database.pooler == nil)
        environment["DATABASE_POOL_URL"] = "postgresql://pooled:secret@10.0.0.5:6432/db"
        let configuration = try ServerConfiguration.fromEnvironment(environment).database
        #expect(configuration.host == "127.0.0.1" && configuration.port == 5432 && configuration.username == "u")
        #expect(configuration.pooler == DatabaseAddress(
            host: "10.0.0.5", port: 6432, username: "pooled", password: "secret", database: "db", tls: .prefer))
        environment["DATABASE_POOL_URL"] = ""
        #expect(try ServerConfiguration.fromEnvironment(environment).database.pooler == nil)
    }

    @Test func migrateNeedsNoSecretAndKeysNeedNoDatabase() throws {
        _ = try ServerConfiguration.fromEnvironment(["DATABASE_URL": minimal["DATABASE_URL"]!], for: .migrate)
        _ = try ServerConfiguration.fromEnvironment(["AUTH_JWT_SECRET": "s"], for: .keys)
    }
}

@Suite struct S3ConfigurationTests {
    let base = ["DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db", "AUTH_JWT_SECRET": "s", "S3_BUCKET": "objects",
                "S3_ACCESS_KEY": "key", "S3_SECRET_KEY": "secret"]

    @Test func selfHostedDefaultsToPathStyle() throws {
        var environment = base
        environment["STORAGE_MODE"] = "self-hosted"
        environment["S3_ENDPOINT"] = "http://127.0.0.1:9000"
        let s3 = try #require(try ServerConfiguration.fromEnvironment(environment).s3)
        #expect(s3.endpoint.absoluteString == "http://127.0.0.1:9000" && s3.forcePathStyle && s3.region == "us-east-1")
        #expect(s3.partSize == 16 << 20 && s3.maximumConnections == 64)
    }

    @Test func cloudDefaultsToAWSAndVirtualHosts() throws {
        var environment = base
        environment["STORAGE_MODE"] = "cloud"
        environment["S3_REGION"] = "eu-central-1"
        environment.removeValue(forKey: "S3_ACCESS_KEY")
        environment["AWS_ACCESS_KEY_ID"] = "aws-key"
        let s3 = try #require(try ServerConfiguration.fromEnvironment(environment).s3)
        #expect(s3.endpoint.absoluteString == "https://s3.eu-central-1.amazonaws.com" && !s3.forcePathStyle)
        #expect(s3.accessKey == "aws-key")
    }

    @Test(arguments: [
        (["STORAGE_MODE": "self-hosted"], "configuration error: S3_ENDPOINT is required when STORAGE_MODE is self-hosted"),
        (["STORAGE_MODE": "cloud", "S3_ENDPOINT": "http://fsn1.your-objectstorage.com"], "configuration error: S3_ENDPOINT must use https in cloud mode"),
        (["STORAGE_MODE": "cloud", "S3_ENDPOINT": "ftp://x"], "configuration error: S3_ENDPOINT must be a URL like https://host[:port], not ftp://x"),
        (["STORAGE_MODE": "cloud", "S3_BUCKET": ""], "configuration error: S3_BUCKET is required when STORAGE_MODE is cloud"),
        (["STORAGE_MODE": "cloud", "S3_SECRET_KEY": ""], "configuration error: S3_SECRET_KEY is required when STORAGE_MODE is cloud"),
        (["STORAGE_MODE": "cloud", "S3_UPLOAD_PART_SIZE": "1024"], "configuration error: S3_UPLOAD_PART_SIZE must be a whole number in 5242880...5368709120, not 1024"),
        (["STORAGE_MODE": "cloud", "S3_FORCE_PATH_STYLE": "sometimes"], "configuration error: S3_FORCE_PATH_STYLE must be true or false, not sometimes"),
    ])
    func invalidS3Settings(_ overrides: [String: String], _ message: String) {
        var environment = base
        for (key, value) in overrides { environment[key] = value }
        #expect {
            try ServerConfiguration.fromEnvironment(environment)
        } throws: { error in
            (error as? ConfigurationError)?.description == message
        }
    }
}

/// `S3_PROTOCOL_*`: on by default, the key pair whole or not at all.
@Suite struct S3ProtocolConfigurationTests {
    let base = ["DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db", "AUTH_JWT_SECRET": "s"]

    @Test func onByDefaultWithoutAKeyPair() throws {
        let settings = try #require(try ServerConfiguration.fromEnvironment(base).s3Protocol)
        #expect(settings.accessKeyID == nil && settings.secretAccessKey == nil)
        #expect(settings.region == "us-east-1" && !settings.enforceRegion)
        var off = base
        off["S3_PROTOCOL_ENABLED"] = "false"
        #expect(try ServerConfiguration.fromEnvironment(off).s3Protocol == nil)
        var full = base
        full["S3_PROTOCOL_ACCESS_KEY_ID"] = "id"
        full["S3_PROTOCOL_ACCESS_KEY_SECRET"] = "secret"
        full["S3_REGION"] = "eu-west-2"
        full["S3_PROTOCOL_ENFORCE_REGION"] = "true"
        let configured = try #require(try ServerConfiguration.fromEnvironment(full).s3Protocol)
        #expect(configured.accessKeyID == "id" && configured.secretAccessKey == "secret")
        #expect(configured.region == "eu-west-2" && configured.enforceRegion)
    }

    @Test(arguments: [
        ("S3_PROTOCOL_ACCESS_KEY_ID", "configuration error: S3_PROTOCOL_ACCESS_KEY_SECRET is required when S3_PROTOCOL_ACCESS_KEY_ID is set"),
        ("S3_PROTOCOL_ACCESS_KEY_SECRET", "configuration error: S3_PROTOCOL_ACCESS_KEY_ID is required when S3_PROTOCOL_ACCESS_KEY_SECRET is set"),
    ])
    func halfAKeyPairIsRefused(_ variable: String, _ message: String) {
        var environment = base
        environment[variable] = "value"
        #expect {
            try ServerConfiguration.fromEnvironment(environment)
        } throws: { error in
            (error as? ConfigurationError)?.description == message
        }
    }
}
