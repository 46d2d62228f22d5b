// A task page built on the published mephisto-task 2.0.4, to check that
// mephisto-io speaks its protocol.  With ?live=1 it also opens the
// WebSocket (useMephistoLiveTask) and shows statuses and live updates.
import React from "react";
import { createRoot } from "react-dom/client";
import { useMephistoTask, useMephistoLiveTask } from "mephisto-task";

function Static() {
  const task = useMephistoTask();
  const [sent, setSent] = React.useState(false);
  if (task.blockedReason) {
    return <p id="blocked">{task.blockedExplanation}</p>;
  }
  if (task.isPreview) return <p id="preview">preview</p>;
  if (task.isLoading || !task.initialTaskData) return <p id="loading">loading</p>;
  return (
    <div>
      <p id="name">{task.initialTaskData.name}</p>
      <p id="agent">{task.agentId}</p>
      <button
        id="submit"
        onClick={() => {
          task.handleSubmit({ answer: "from react" });
          setSent(true);
        }}
      >
        Submit
      </button>
      <button
        id="metadata"
        onClick={() =>
          task.handleMetadataSubmit({ type: "feedback", text: "nice" })
        }
      >
        Feedback
      </button>
      <button id="fatal" onClick={() => task.handleFatalError({ error: "boom" })}>
        Error
      </button>
      {sent && <p id="sent">sent</p>}
    </div>
  );
}

function Live() {
  const [updates, setUpdates] = React.useState([]);
  const task = useMephistoLiveTask({
    onLiveUpdate: (u) => setUpdates((list) => [...list, u]),
  });
  const { agentId, connect } = task;
  React.useEffect(() => {
    if (agentId) connect(agentId);
  }, [agentId]);
  if (task.isLoading || !task.initialTaskData) return <p id="loading">loading</p>;
  return (
    <div>
      <p id="agent">{agentId}</p>
      <p id="connection">{task.connectionStatus}</p>
      <p id="status">{task.agentStatus}</p>
      <ul id="updates">
        {updates.map((u, i) => (
          <li key={i}>{u.text}</li>
        ))}
      </ul>
      <button id="send" onClick={() => task.sendLiveUpdate({ text: "from browser" })}>
        Send
      </button>
    </div>
  );
}

const live = new URLSearchParams(window.location.search).get("live");
createRoot(document.getElementById("app")).render(live ? <Live /> : <Static />);
