#!/usr/bin/env bash
# Initialise the SQLite database under instance/, deploy the processes, create demo users and data;
# then serve the web UI with the time-limit worker running beside it (stopped when serve stops).
set -euo pipefail
cd "$(dirname "$0")/.."
BZ=.venv/bin/baozhuang
$BZ init
if [ ! -f instance/.demo-created ]; then
  $BZ demo 30
  touch instance/.demo-created
fi
cat <<'MSG'

baozhuang 已就绪（SQLite 数据库在 instance/baozhuang.db）。命令行也可以：
  .venv/bin/baozhuang tasks --user manager1        # 客户经理 manager1 的待办
  .venv/bin/baozhuang show <申请编号>              # 查看一个申请：数据、待办、历史、审计链
  .venv/bin/baozhuang complete <任务编号> --as manager1 --data 表单.json  # 办理（各表单示例见 processes/paths.json）
  .venv/bin/baozhuang fieldjob list                 # 现场作业：预约派工、到达、结束（fieldjob --help）
  .venv/bin/baozhuang --help                       # 全部命令
演示用户（密码 baozhuang）：frontdesk manager1 manager2 survey marketing planning metering dispatch archive auditor analyst
                          fielddispatch（工单调度员） service（客户回访） station1（班所负责人）
MSG
echo "时限巡检（预警、超期督办）在后台运行，每 ${SWEEP_INTERVAL:-60} 秒一次，输出在 instance/worker.log"
# Background jobs of a script ignore Ctrl-C, so the worker is stopped explicitly (SIGTERM) when serve ends.
$BZ worker --interval "${SWEEP_INTERVAL:-60}" >>instance/worker.log 2>&1 &
worker_pid=$!
stop_worker() {
  kill "$worker_pid" 2>/dev/null || true
  wait "$worker_pid" 2>/dev/null || true
}
trap stop_worker EXIT
trap 'exit 143' TERM
$BZ serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
