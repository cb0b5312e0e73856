# Plain entry points. Every target works on a fresh Debian machine as root.
.PHONY: test test-role test-scenario lint unit lab lab-down images cache

test:            ## everything: lint, unit tests, every Molecule scenario; ends with "N passed, N failed"
	scripts/test.sh

test-role:       ## one role's Molecule scenarios: make test-role ROLE=pushgateway
	scripts/test.sh role:$(ROLE)

test-scenario:   ## one top-level scenario: make test-scenario SCENARIO=default
	scripts/test.sh scenario:$(SCENARIO)

lint:
	scripts/test.sh lint

unit:
	scripts/test.sh unit

images:          ## build the systemd base images (debootstrap + docker import)
	scripts/harness/ensure-docker.sh && scripts/harness/build-images.sh

cache:           ## fill the artifact cache from Debian's builds of the pinned releases
	python3 scripts/harness/fill_artifact_cache.py

lab:             ## the whole stack in local containers, offline; prints the URLs. ONLINE=1: upstream releases + Grafana
	ONLINE=$(ONLINE) scripts/lab.sh up

lab-down:
	scripts/lab.sh down
