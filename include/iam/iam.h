// iam/iam.h — everything an application includes to use the library.
#pragma once

#include "iam/audit.h"
#include "iam/clock.h"
#include "iam/jwt.h"
#include "iam/log.h"
#include "iam/operations.h"
#include "iam/random.h"
#include "iam/regime.h"
#include "iam/repository.h"
#include "iam/memory_store.h"
#include "iam/roles.h"
#include "iam/secret.h"
#include "iam/status.h"
