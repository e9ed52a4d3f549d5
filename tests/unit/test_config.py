"""Connection settings: precedence, inference, validation, and secrets that never show."""

import logging

import pytest

from streamline import ConfigurationError, ConnectionConfig, Producer, Secret


def test_precedence_argument_env_default() -> None:
    env = {"STREAMLINE_BOOTSTRAP_SERVERS": "envhost:9093"}
    assert ConnectionConfig.resolve(env={}).bootstrap_servers == "localhost:9092"
    assert ConnectionConfig.resolve(env=env).bootstrap_servers == "envhost:9093"
    assert ConnectionConfig.resolve("arg:9094", env=env).bootstrap_servers == "arg:9094"
    assert ConnectionConfig.resolve(["a:1", "b:2"], env={}).bootstrap_servers == "a:1,b:2"


def test_environment_sets_sasl_and_infers_protocol() -> None:
    env = {
        "STREAMLINE_SASL_MECHANISM": "scram-sha-512",
        "STREAMLINE_SASL_USERNAME": "app",
        "STREAMLINE_SASL_PASSWORD": "pw-from-env",
    }
    cfg = ConnectionConfig.resolve(env=env)
    assert cfg.security_protocol == "SASL_PLAINTEXT"
    assert cfg.sasl_mechanism == "SCRAM-SHA-512"
    kwargs = cfg.aiokafka_kwargs()
    assert kwargs["sasl_plain_username"] == "app"
    assert kwargs["sasl_plain_password"] == "pw-from-env"
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"


def test_tls_files_infer_ssl_and_build_a_verifying_context() -> None:
    import os
    import ssl

    cafile = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    if not os.path.isfile(cafile):
        pytest.skip("no system CA bundle on this machine")
    cfg = ConnectionConfig.resolve("h:9093", ssl_cafile=cafile, env={})
    assert cfg.security_protocol == "SSL"
    context = cfg.aiokafka_kwargs()["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"bootstrap_servers": "nohostport"}, "HOST:PORT"),
        ({"bootstrap_servers": "h:99999"}, "HOST:PORT"),
        ({"security_protocol": "TLS"}, "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
        ({"security_protocol": "SASL_SSL"}, "needs a SASL mechanism"),
        ({"sasl_mechanism": "GSSAPI", "sasl_username": "u", "sasl_password": "p"}, "PLAIN, SCRAM"),
        ({"sasl_mechanism": "PLAIN"}, "needs a username and a password"),
        ({"ssl_cafile": "/does/not/exist.pem"}, "does not exist"),
        ({"connect_timeout": "soon"}, "number of seconds"),
        ({"connect_timeout": 0}, "positive"),
        ({"colour": "blue"}, "unknown connection option"),
    ],
)
def test_invalid_settings_are_one_clear_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        ConnectionConfig.resolve(env={}, **kwargs)


def test_password_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    password = "correct-horse-battery-staple"
    cfg = ConnectionConfig.resolve(
        "h:9092", sasl_mechanism="PLAIN", sasl_username="u", sasl_password=password, env={}
    )
    producer = Producer(connection=cfg)
    logging.getLogger("streamline").warning("config is %s / %r / %s", cfg, cfg, producer)
    texts = [repr(cfg), str(cfg), repr(producer), repr(cfg.sasl_password), str(cfg.sasl_password), caplog.text]
    assert all(password not in t for t in texts)
    assert cfg.sasl_password == Secret(password)
    # A validation error about the SASL settings does not echo the password either.
    with pytest.raises(ConfigurationError) as info:
        ConnectionConfig.resolve("h:1", sasl_mechanism="NOPE", sasl_username="u", sasl_password=password, env={})
    assert password not in str(info.value)
