import { Link } from "react-router-dom";
import { Empty } from "../components/States";

export function NotFound() {
  return (
    <div className="page">
      <Empty title="This page does not exist">
        <Link to="/app">Go to your projects</Link>
      </Empty>
    </div>
  );
}
