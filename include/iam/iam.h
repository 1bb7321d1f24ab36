// iam/iam.h — everything an application includes to use the library: the regime contract,
// the roles and noauth regimes, storage backends, the JSON protocol and the gateway kit.
// (iam/testing.h, for an application's own tests, is included separately on purpose: it
// comes with the iam-testing library.)
#pragma once

#include "iam/audit.h"
#include "iam/clock.h"
#include "iam/credential_shape.h"
#include "iam/export.h"
#include "iam/forwarding_repository.h"
#include "iam/gateway.h"
#include "iam/jwt.h"
#include "iam/log.h"
#include "iam/memory_store.h"
#include "iam/noauth.h"
#include "iam/operation_registry.h"
#include "iam/operations.h"
#include "iam/postgres_store.h"
#include "iam/protocol.h"
#include "iam/random.h"
#include "iam/regime.h"
#include "iam/repository.h"
#include "iam/roles.h"
#include "iam/secret.h"
#include "iam/signing_key.h"
#include "iam/sqlite_store.h"
#include "iam/status.h"
#include "iam/store.h"
#include "iam/throttle.h"
#include "iam/websocket_session.h"
