// The chat page: mephisto-task 2.0.4's live hooks.  Messages go to the
// runner as live updates; the partner's come back the same way.
import React from "react";
import { createRoot } from "react-dom/client";
import { useMephistoLiveTask } from "mephisto-task";

function Chat() {
  const [messages, setMessages] = React.useState([]);
  const [text, setText] = React.useState("");
  const task = useMephistoLiveTask({
    onLiveUpdate: (u) =>
      setMessages((list) => [...list, "partner: " + u.text]),
  });
  const { agentId, connect } = task;
  React.useEffect(() => {
    if (agentId) connect(agentId);
  }, [agentId]);
  if (task.blockedReason) return <p id="blocked">{task.blockedExplanation}</p>;
  if (task.isPreview) return <p id="preview">A chat with another worker.</p>;
  if (task.isLoading || !task.initialTaskData) return <p id="loading">loading</p>;
  const send = () => {
    task.sendLiveUpdate({ text });
    setMessages((list) => [...list, "me: " + text]);
    setText("");
  };
  return (
    <div>
      <p>Topic: <span id="topic">{task.initialTaskData.topic}</span></p>
      <p>Agent <span id="agent">{agentId}</span>, status{" "}
        <span id="status">{task.agentStatus}</span>, connection{" "}
        <span id="connection">{task.connectionStatus}</span></p>
      <ul id="messages">
        {messages.map((m, i) => <li key={i}>{m}</li>)}
      </ul>
      <input id="text" value={text} onChange={(e) => setText(e.target.value)} />
      <button id="send" onClick={send}>Send</button>
      <button id="submit" onClick={() => task.handleSubmit({ messages })}>
        Submit
      </button>
    </div>
  );
}

createRoot(document.getElementById("app")).render(<Chat />);
