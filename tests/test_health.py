from unittest import mock


def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database_and_the_broker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json() == {"database": "ok", "broker": "ok", "status": "ok"}


def test_readyz_says_503_and_why_when_the_broker_is_down(client, db):
    with mock.patch("platform_site.health._broker_ready", return_value="OperationalError: refused"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["broker"] == "OperationalError: refused"
    assert response.json()["database"] == "ok"
