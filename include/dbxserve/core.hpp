#pragma once

// Everything except the default (cpp-httplib) transport: include this instead of dbxserve.hpp when
// you plug in your own HTTP stack, and httplib and OpenSSL never enter your build.

#include "auth/default_credentials.hpp"
#include "auth/oauth_m2m.hpp"
#include "auth/static_token.hpp"
#include "cancellation.hpp"
#include "client.hpp"
#include "config.hpp"
#include "deadline.hpp"
#include "error.hpp"
#include "events.hpp"
#include "executor.hpp"
#include "model/model.hpp"
#include "result.hpp"
#include "retry.hpp"
#include "transport.hpp"
#include "version.hpp"
