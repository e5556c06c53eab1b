-- Argo CD health check for cxops' SignalSource, Journey, Moment and RoadmapStream.
-- It reads the kstatus conditions first (did cxops reconcile this generation?),
-- then the experience itself (Healthy, OnTrack). Unknown is never Healthy.
local hs = {status = "Progressing", message = "Waiting for the cxops controller"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local gen = obj.metadata.generation
if gen ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < gen) then
  hs.message = "Waiting for the controller to observe generation " .. gen
  return hs
end
local c = {}
for _, cond in ipairs(obj.status.conditions) do
  c[cond.type] = cond
end
local function text(cond)
  return (cond.reason or "") .. ": " .. (cond.message or "")
end
if c.Stalled ~= nil and c.Stalled.status == "True" then
  return {status = "Degraded", message = text(c.Stalled)}
end
if c.Ready ~= nil and c.Ready.status ~= "True" then
  return {status = "Progressing", message = text(c.Ready)}
end
if c.Suspended ~= nil and c.Suspended.status == "True" then
  return {status = "Suspended", message = text(c.Suspended)}
end
-- The experience itself: drop the checks below to keep CX health out of sync health.
if c.Healthy ~= nil and c.Healthy.status == "False" then
  return {status = "Degraded", message = text(c.Healthy)}
end
if c.Healthy ~= nil and c.Healthy.status ~= "True" then
  return {status = "Unknown", message = text(c.Healthy)}
end
if c.OnTrack ~= nil and c.OnTrack.status == "False" then
  return {status = "Degraded", message = text(c.OnTrack)}
end
if c.Ready ~= nil then
  local shown = c.Healthy or c.OnTrack or c.Ready
  return {status = "Healthy", message = text(shown)}
end
return hs
