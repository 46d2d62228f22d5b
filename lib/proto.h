#ifndef MEPHISTO_PROTO_H
#define MEPHISTO_PROTO_H

/*
 * The protocol between the daemons of one task run, on the pool's Unix
 * socket <run dir>/pool.sock.
 *
 * Framing: one JSON object per line (unformatted JSON never contains a raw
 * newline), at most PROTO_MAX_LINE bytes; a longer line is refused with an
 * "error" packet and the connection is closed.
 *
 * Envelope: the browser protocol's packet, plus an optional request id:
 *
 *   {"packet_type": "...", "subject_id": "...", "data": {...},
 *    "request_id": "...",                      (requests and their replies)
 *    "client_timestamp": f, "router_incoming_timestamp": f,
 *    "router_outgoing_timestamp": f, "server_timestamp": f}
 *
 * Timestamps are float epoch seconds and optional.  Ids are strings.
 *
 * Hello: the first packet in each direction is
 *   {"packet_type": "hello", "subject_id": PROGRAM,
 *    "data": {"program": PROGRAM, "version": PROTO_VERSION, "pid": N}}
 * A peer whose version differs gets an "error" packet naming both versions
 * and is disconnected.
 *
 * Every request carries a request_id unique on its connection and is
 * answered exactly once, by a packet with the same request_id: either the
 * reply named below or "error".  The requester gives up after its deadline
 * (PROTO_DEADLINE_MS unless said otherwise) and answers its own client
 * with a retryable error.
 *
 * io -> pool
 *   register_agent      subject request_id; data {provider_data, request_id}
 *                       reply agent_details
 *   submit_onboarding   subject "onboarding_<id>"; data {onboarding_data,
 *                       request_id, ...provider_data minus USED_AGENT_ID}
 *                       reply agent_details (the worker's next step)
 *   submit_unit         subject agent id; data = the final data (with
 *                       "files": [{fieldname, originalname, filename, path,
 *                       size, mimetype}] when files were uploaded; filename
 *                       is relative to the agent's upload folder)
 *                       reply ack once the submission is committed
 *   submit_metadata     subject agent id; data = metadata; reply ack
 *   log_error           subject agent id or "mephisto"; data = error_data;
 *                       reply ack
 *   mephisto_bound_live_update
 *                       subject agent id; data includes update_id;
 *                       no reply (duplicates by update_id are dropped)
 *   return_statuses     subject "mephisto"; data {agent_id: status}; sent
 *                       when io sees an agent's socket go silent or come
 *                       back ("disconnect", or "alive" on return); no reply
 *
 * pool -> io
 *   agent_details       data {request_id, worker_id, agent_id,
 *                       init_task_data, failure_reason}
 *   ack                 data {"status": "Submitted!"} (or the original's
 *                       text for metadata and error logs)
 *   update_status       subject agent id; data {status}
 *   client_bound_live_update
 *                       subject agent id; data includes update_id
 *   error               data {"error": message, "retryable": bool};
 *                       request_id set when it answers a request
 *
 * launch (or any client) -> pool
 *   snapshot            data {statuses?: [unit status...], limit?: N}
 *                       reply snapshot: data {units: [{unit_id,
 *                       unit_index, assignment_id, status, worker_id,
 *                       worker_name, agent_id, agent_status, started,
 *                       ended}] (those in STATUSES, or all; at most
 *                       LIMIT, default and maximum 10000, in launch
 *                       order), truncated (more units matched), counts
 *                       (every unit of the run, by status), task_run_id}
 *   subscribe           reply ack; then every unit or agent change is sent
 *                       as an "event" packet: data {event, unit_id,
 *                       agent_id, worker_id, status, seq}
 *   disconnect_active   every live agent becomes "disconnect", its unit is
 *                       expired; reply ack with data {count}
 *   shutdown            reply ack, then the pool exits cleanly
 *   metrics             reply metrics: data {text} (Prometheus text
 *                       format: the pool's metrics)
 */

#define PROTO_VERSION 1
#define PROTO_MAX_LINE (8 * 1024 * 1024)
#define PROTO_DEADLINE_MS 10000

/* Packet types of the browser protocol (facts section 3.2). */
#define PT_ALIVE "alive"
#define PT_HEARTBEAT "heartbeat"
#define PT_REGISTER_AGENT "register_agent"
#define PT_AGENT_DETAILS "agent_details"
#define PT_SUBMIT_ONBOARDING "submit_onboarding"
#define PT_SUBMIT_UNIT "submit_unit"
#define PT_SUBMIT_METADATA "submit_metadata"
#define PT_LOG_ERROR "log_error"
#define PT_CLIENT_LIVE_UPDATE "client_bound_live_update"
#define PT_MEPHISTO_LIVE_UPDATE "mephisto_bound_live_update"
#define PT_UPDATE_STATUS "update_status"
#define PT_REQUEST_STATUSES "request_statuses"
#define PT_RETURN_STATUSES "return_statuses"

/* Packet types between the daemons only. */
#define PT_HELLO "hello"
#define PT_ACK "ack"
#define PT_ERROR "error"
#define PT_SNAPSHOT "snapshot"
#define PT_SUBSCRIBE "subscribe"
#define PT_EVENT "event"
#define PT_CHANGED "changed"
#define PT_DISCONNECT_ACTIVE "disconnect_active"
#define PT_SHUTDOWN "shutdown"
#define PT_METRICS "metrics"

/* The subject of system packets. */
#define PROTO_SYSTEM_SUBJECT "mephisto"
/* Onboarding agents are shown to browsers as "onboarding_<id>". */
#define PROTO_ONBOARDING_PREFIX "onboarding_"

/* WorkerFailureReasons (facts section 2.3): shown to workers as-is. */
#define REASON_NOT_QUALIFIED \
	"You are not currently qualified to work on this task."
#define REASON_NO_AVAILABLE_UNITS \
	"There is currently no available work, please try again later."
#define REASON_TOO_MANY_CONCURRENT \
	"You are currently working on too many tasks concurrently to accept " \
	"another, please finish your current work."
#define REASON_MAX_FOR_TASK \
	"You have already completed the maximum amount of tasks the requester " \
	"has set for this task."
#define REASON_TASK_MISSING \
	"You appear to have already completed this task, or have disconnected " \
	"long enough for your session to clear."

/* The browser library version the router speaks. */
#define MEPHISTO_TASK_VERSION "2.0.4"

#endif
