#pragma once

// Every request and response type of the serving APIs.

#include "chat.hpp"
#include "chat_agent.hpp"
#include "common.hpp"
#include "completions.hpp"
#include "embeddings.hpp"
#include "responses_agent.hpp"
#include "stream.hpp"
#include "tabular.hpp"
